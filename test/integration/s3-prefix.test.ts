import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import type { BatchExport } from '@bx/core';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { InProcessSystem } from '../helpers/in-process';
import { createBucket, listKeys, testS3Client } from '../helpers/s3';

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

describe('S3 prefixes cannot leave the bucket', function () {
  this.timeout(60_000);
  let ch: TestClickHouse;
  let s3: S3Client;
  let sys: InProcessSystem;
  let bucket: string;
  let victim: string;
  const hour = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(Array.from({ length: 5 }, (_, i) => makeEvent({ inserted_at: chTime(iso(hour + i * 60_000)) })));
    s3 = testS3Client();
  });
  after(async () => ch.drop());
  beforeEach(async () => {
    bucket = await createBucket(s3);
    victim = await createBucket(s3);
    sys = await new InProcessSystem(ch.database).start();
  });
  afterEach(async () => sys.stop());

  const body = (prefix: string) => ({
    name: 'prefix',
    team_id: 1,
    interval: 'hour',
    // Ended before now: never scheduled (a paused export would hold its backfills).
    end_at: new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString(),
    destination: {
      type: 'S3',
      config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix, ...S3_CREDENTIALS },
    },
  });

  const hostile = [
    '..',
    '../other-bucket',
    'a/../../other-bucket/x',
    './x',
    'a/./b',
    'a/.',
    'events/..',
    'a\\..\\b',
    'a\\b',
    'a\u0000b',
    'a\nb',
    'a\u007fb',
    // Lone surrogates: JSON carries them, no URL can (every run failed with "URI malformed").
    'a\ud800b',
    'events/\udc00',
    'x/\ud83d',
  ];

  it('refuses . and .. segments, backslashes, control characters and lone surrogates with a 400 naming the field', async () => {
    for (const prefix of hostile) {
      const res = await sys.call('POST', '/api/exports', body(prefix));
      expect(res.status, JSON.stringify(prefix)).to.equal(400);
      expect(res.json.error.details.map((d: { field: string }) => d.field)).to.include('destination.config.prefix');
    }
    const ok = await sys.call('POST', '/api/exports', body('events/{year}'));
    for (const prefix of hostile) {
      const res = await sys.call('PATCH', `/api/exports/${ok.json.id}`, {
        destination: { config: { prefix, ...S3_CREDENTIALS } },
      });
      expect(res.status, `PATCH ${JSON.stringify(prefix)}`).to.equal(400);
      expect(res.json.error.details.map((d: { field: string }) => d.field)).to.include('destination.config.prefix');
    }
  });

  it('keeps dots that are not whole segments', async () => {
    for (const prefix of ['v1.2/{year}', '.hidden/x', 'a..b/c', '...', 'x/.../y', 'emoji-\ud83d\ude00/{year}']) {
      const res = await sys.call('POST', '/api/exports', body(prefix));
      expect(res.status, `${prefix}: ${JSON.stringify(res.json)}`).to.equal(201);
    }
  });

  it('refuses an empty segment inside the prefix (a//b) naming the field; slashes at either end are dropped', async () => {
    // Real S3 takes `a//b/...` keys, MinIO refuses them and s3rver failed every run: refused at once, named.
    const ok = await sys.call('POST', '/api/exports', body('events/{year}'));
    for (const prefix of ['a//b', 'events//{year}', 'a///b', '{table}//x/']) {
      const res = await sys.call('POST', '/api/exports', body(prefix));
      expect(res.status, JSON.stringify(prefix)).to.equal(400);
      const detail = res.json.error.details.find((d: { field: string }) => d.field === 'destination.config.prefix');
      expect(detail?.message, prefix).to.contain("empty segment ('//')");
      const patched = await sys.call('PATCH', `/api/exports/${ok.json.id}`, { destination: { config: { prefix } } });
      expect(patched.status, `PATCH ${JSON.stringify(prefix)}`).to.equal(400);
    }
    // An export stored before keeps its prefix: a PATCH that does not send it is not refused for it.
    const stored = (await sys.store.exports.get(ok.json.id))!;
    await sys.store.exports.modify(stored.id, (e) => ({
      ...e,
      destination: { ...e.destination, config: { ...e.destination.config, prefix: 'old//layout' } },
    }));
    const renamed = await sys.call('PATCH', `/api/exports/${ok.json.id}`, {
      name: 'renamed',
      destination: { config: { aws_secret_access_key: 'rotated-0123' } },
    });
    expect(renamed.status, JSON.stringify(renamed.json)).to.equal(200);
    expect(renamed.json.destination.config.prefix).to.equal('old//layout');
    // Leading and trailing slashes are not part of the key (as PostHog's keys): `//x` writes under `x/`.
    const created = await sys.call('POST', '/api/exports', body('//x/{year}/'));
    expect(created.status, JSON.stringify(created.json)).to.equal(201);
    sys.startWorker(1);
    const run = await sys.backfillToEnd(created.json.id, hour, hour + HOUR);
    expect(run.status, run.error ?? '').to.equal('Completed');
    const keys = await listKeys(s3, bucket);
    expect(keys.length).to.be.greaterThan(0);
    for (const key of keys) expect(key).to.match(new RegExp(`^x/${new Date(hour + HOUR).getUTCFullYear()}/[^/]+$`));
  });

  it('a run of an export stored with such a prefix fails and writes nothing into another bucket', async () => {
    const created = await sys.call('POST', '/api/exports', body('events'));
    const exp = created.json as BatchExport;
    // As an export saved before prefixes were checked.
    const stored = (await sys.store.exports.get(exp.id))!;
    if (stored.destination.type !== 'S3') throw new Error('an S3 export');
    stored.destination.config.prefix = `../${victim}/stolen`;
    await sys.store.exports.modify(stored.id, () => stored);

    sys.startWorker(1);
    const run = await sys.backfillToEnd(exp.id, hour, hour + HOUR);
    expect(run.status).to.equal('Failed');
    expect(run.error).to.contain('destination.config.prefix');
    expect(await listKeys(s3, victim), 'the other bucket').to.deep.equal([]);
    expect(await listKeys(s3, bucket)).to.deep.equal([]);
  });
});

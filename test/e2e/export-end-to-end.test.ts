import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { ReceiptChecksum, isoSeconds, type Run } from '@bx/core';
import { Store } from '@bx/store';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { chTime, expectedRecord, makeEvent, type SourceEvent } from '../helpers/events';
import { ServiceProcess, eventually } from '../helpers/processes';
import { createBucket, getObject, listKeys, readJsonLines, testS3Client } from '../helpers/s3';

const HOUR = 3_600_000;
const TOKEN = 'e2e-token-0123456789abcdef';

/**
 * Seeds `hours` past hourly intervals for teams 1 and 2, with events exactly at
 * each start (in), one second before each end (in), exactly at the end (the next
 * interval's), and events whose timestamp is days older than their ingestion.
 */
function seed(base: number, hours: number): SourceEvent[] {
  const events: SourceEvent[] = [];
  for (let h = 0; h < hours; h++) {
    const start = base + h * HOUR;
    for (const team of [1, 2]) {
      events.push(makeEvent({ team_id: team, inserted_at: chTime(new Date(start).toISOString()) }));
      events.push(makeEvent({ team_id: team, inserted_at: chTime(new Date(start + HOUR - 1000).toISOString()) }));
      events.push(
        makeEvent({
          team_id: team,
          inserted_at: chTime(new Date(start + 1800_000).toISOString()),
          timestamp: chTime(new Date(start - 5 * 24 * HOUR).toISOString()),
          event: 'sign up: it\'s "quoted"',
        }),
      );
      for (let i = 0; i < 20; i++)
        events.push(
          makeEvent({ team_id: team, inserted_at: chTime(new Date(start + 60_000 + i * 97_000).toISOString()) }),
        );
    }
  }
  // Not ingested in the range, or never ingested: never exported.
  events.push(makeEvent({ team_id: 1, inserted_at: chTime(new Date(base - 1000).toISOString()) }));
  events.push(makeEvent({ team_id: 1, inserted_at: null }));
  return events;
}

describe('end to end: API → scheduler → BullMQ → worker → ClickHouse 18.16 → S3', function () {
  this.timeout(120_000);
  let ch: TestClickHouse;
  let s3: S3Client;
  let bucket: string;
  let prefix: string;
  let store: Store;
  let services: ServiceProcess[] = [];
  let env: Record<string, string>;
  const hours = 3;
  const base = Math.floor(Date.now() / HOUR) * HOUR - hours * HOUR;
  let events: SourceEvent[];

  beforeEach(async () => {
    ch = await new TestClickHouse().setup();
    events = seed(base, hours);
    await ch.insert(events);
    s3 = testS3Client();
    bucket = await createBucket(s3);
    prefix = uniqueName('bxe');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: ch.database,
      QUEUE_PREFIX: prefix,
      ADMIN_API_TOKEN: TOKEN,
      SCHEDULER_TICK_MS: '200',
      SCHEDULER_SETTLE_SECONDS: '0',
      LOG_LEVEL: 'info',
    };
  });
  afterEach(async () => {
    await Promise.all(services.map((s) => s.stop()));
    services = [];
    const keys = await store.redis.keys(`${prefix}:*`);
    if (keys.length) await store.redis.del(...keys);
    await store.close();
    await ch.drop();
  });

  async function start(
    role: ServiceProcess['role'],
    extra: Record<string, string> = {},
    ready = `${role} started`,
  ): Promise<ServiceProcess> {
    const service = new ServiceProcess(role, { ...env, ...extra });
    services.push(service);
    await service.waitForLog(ready);
    return service;
  }

  async function createExport(port: number, teamId: number): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${port}/api/exports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: `team ${teamId}`,
        team_id: teamId,
        interval: 'hour',
        start_at: new Date(base).toISOString(),
        // Exactly the seeded hours, also when the clock passes an hour mid-test.
        end_at: new Date(base + hours * HOUR).toISOString(),
        destination: {
          type: 'S3',
          config: {
            bucket_name: bucket,
            endpoint_url: testEnv.S3_ENDPOINT_URL,
            prefix: `team-${teamId}/{year}-{month}-{day}`,
            compression: 'gzip',
            ...S3_CREDENTIALS,
          },
        },
      }),
    });
    expect(res.status).to.equal(201);
    return ((await res.json()) as { id: string }).id;
  }

  async function completedRuns(port: number, exportId: string, count: number): Promise<Run[]> {
    return eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/exports/${exportId}/runs`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        const runs = ((await res.json()) as { results: Run[] }).results;
        const failed = runs.find((r) => r.status === 'Failed');
        if (failed) throw new Error(`run failed: ${failed.error}`);
        return runs.length >= count && runs.every((r) => r.status === 'Completed') ? runs : undefined;
      },
      60_000,
      `${count} completed runs of ${exportId}`,
    );
  }

  /** Each interval's object holds exactly that interval's source rows of the team. */
  async function expectExported(teamId: number, runs: Run[]): Promise<void> {
    const keys = await listKeys(s3, bucket, `team-${teamId}/`);
    // Each interval's data, then its receipt.
    expect(keys).to.have.length(2 * hours);
    for (let h = 0; h < hours; h++) {
      const start = base + h * HOUR;
      const end = start + HOUR;
      const day = new Date(end).toISOString().slice(0, 10);
      const key = `team-${teamId}/${day}/${isoSeconds(start)}-${isoSeconds(end)}.jsonl.gz`;
      expect(keys).to.include(key);
      const expected = events
        .filter((e) => e.team_id === teamId && e.inserted_at !== null)
        .filter(
          (e) =>
            Date.parse(e.inserted_at!.replace(' ', 'T') + 'Z') >= start &&
            Date.parse(e.inserted_at!.replace(' ', 'T') + 'Z') < end,
        )
        .map(expectedRecord);
      const got = await readJsonLines(s3, bucket, key);
      const byUuid = (a: Record<string, unknown>, b: Record<string, unknown>) =>
        String(a.uuid).localeCompare(String(b.uuid));
      expect(got.sort(byUuid)).to.deep.equal(expected.sort(byUuid));
      const run = runs.find((r) => r.data_interval_start === new Date(start).toISOString())!;
      expect(run).to.deep.include({ status: 'Completed', records_completed: expected.length, files: [key] });
      expect(run.bytes_exported).to.be.greaterThan(0);
      const checksum = new ReceiptChecksum();
      for (const record of expected) checksum.add(record.uuid as string);
      expect(run.receipt).to.deep.include({ records: expected.length, checksum: checksum.toString(), version: 1 });
      const receiptKey = `team-${teamId}/${day}/${isoSeconds(start)}-${isoSeconds(end)}_receipt.json`;
      expect(JSON.parse((await getObject(s3, bucket, receiptKey)).toString())).to.deep.equal({
        export_id: run.export_id,
        data_interval_start: run.data_interval_start,
        data_interval_end: run.data_interval_end,
        ...run.receipt,
      });
    }
  }

  it('exports each past interval of each team exactly, with the contract keys and records', async () => {
    const api = await start('api', { PORT: '0' }, 'api listening');
    await start('worker');
    await start('scheduler');
    const exportId = await createExport(api.port, 1);
    const runs = await completedRuns(api.port, exportId, hours);
    await expectExported(1, runs);
    expect(api.logs.map((l) => JSON.stringify(l)).join('\n')).to.not.contain('S3RVER"');
  });

  it('with two schedulers and two workers, every interval is exported exactly once', async () => {
    const { port } = await start('api', { PORT: '0' }, 'api listening');
    const workers = [await start('worker'), await start('worker')];
    await Promise.all([start('scheduler'), start('scheduler')]);
    const ids = [await createExport(port, 1), await createExport(port, 2)];
    const runs = [await completedRuns(port, ids[0]!, hours), await completedRuns(port, ids[1]!, hours)];
    await expectExported(1, runs[0]!);
    await expectExported(2, runs[1]!);
    const completions = workers.flatMap((w) =>
      w.logs.filter((l) => l.msg === 'run completed').map((l) => l.run_id as string),
    );
    expect(completions).to.have.length(2 * hours);
    expect(new Set(completions).size).to.equal(2 * hours);
    for (const run of runs.flat()) expect(run.attempts).to.equal(1);
  });

  it('a service with invalid configuration stops at start, naming the variable', async () => {
    const sut = new ServiceProcess('worker', { ...env, WORKER_CONCURRENCY: 'lots' });
    expect(await sut.exitCode()).to.equal(1);
    expect(sut.stderr.join('')).to.contain('WORKER_CONCURRENCY');
    const api = new ServiceProcess('api', { ...env, ADMIN_API_TOKEN: '' });
    expect(await api.exitCode()).to.equal(1);
    expect(api.stderr.join('')).to.contain('ADMIN_API_TOKEN');
  });
});

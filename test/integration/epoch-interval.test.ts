import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import type { Run } from '@bx/core';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { makeEvent } from '../helpers/events';
import { InProcessSystem } from '../helpers/in-process';
import { eventually } from '../helpers/processes';
import { createBucket, listKeys, readJsonLines, testS3Client } from '../helpers/s3';

/**
 * The first day of 1970 in a zone east of UTC begins before the epoch, where
 * ClickHouse's DateTime cannot go: 18.16 read the bound toDateTime(-3600) as
 * 2106 and the run found none of the day's rows (a modern server reads it as
 * 1970, so the engines disagreed). Rows at the epoch are real: 18.16's zero
 * DateTime is 1970-01-01 00:00:00.
 */
describe('the interval that holds the epoch, in a zone east of UTC', function () {
  this.timeout(60_000);
  let ch: TestClickHouse;
  let s3: S3Client;
  let sys: InProcessSystem;
  let bucket: string;
  const rows = [
    makeEvent({ inserted_at: '1970-01-01 00:00:00' }),
    makeEvent({ inserted_at: '1970-01-01 22:59:59' }),
    makeEvent({ inserted_at: '1970-01-01 23:00:00' }),
  ];

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(rows);
    s3 = testS3Client();
    bucket = await createBucket(s3);
    sys = await new InProcessSystem(ch.database).start();
  });
  after(async () => {
    await sys.stop();
    await ch.drop();
  });

  it('starts at 1970-01-01T00:00Z and exports its rows', async () => {
    const created = await sys.call('POST', '/api/exports', {
      name: 'epoch',
      team_id: 1,
      interval: 'day',
      timezone: 'Europe/Berlin',
      start_at: '1970-01-01T00:00:00Z',
      end_at: '1970-01-01T23:00:00Z',
      destination: {
        type: 'S3',
        config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix: 'e', ...S3_CREDENTIALS },
      },
    });
    expect(created.status, JSON.stringify(created.json)).to.equal(201);
    const id = created.json.id as string;
    sys.startWorker(1);
    const backfill = await sys.call('POST', `/api/exports/${id}/backfills`, {
      start_at: '1970-01-01T00:00:00Z',
      end_at: '1970-01-01T23:00:00Z',
    });
    expect(backfill.status, JSON.stringify(backfill.json)).to.equal(201);
    const run = await eventually(
      async () => {
        const runs = (await sys.call('GET', `/api/exports/${id}/runs`)).json.results as Run[];
        return runs.find((r) => r.status === 'Completed' || r.status === 'Failed');
      },
      30_000,
      'the run to finish',
    );
    expect(run).to.deep.include({
      status: 'Completed',
      data_interval_start: '1970-01-01T00:00:00.000Z',
      data_interval_end: '1970-01-01T23:00:00.000Z',
      records_completed: 2,
    });
    const [key] = (await listKeys(s3, bucket)).filter((k) => !k.endsWith('_receipt.json'));
    expect(key).to.equal('e/1970-01-01T00:00:00+00:00-1970-01-01T23:00:00+00:00.jsonl');
    const uuids = (await readJsonLines(s3, bucket, key!)).map((r) => r.uuid);
    expect(uuids.sort()).to.deep.equal([rows[0]!.uuid, rows[1]!.uuid].sort());
  });
});

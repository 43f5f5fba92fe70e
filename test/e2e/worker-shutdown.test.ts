import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { createLogger, runIdFor } from '@bx/core';
import { ExportService } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { ServiceProcess, eventually } from '../helpers/processes';
import { createBucket, listKeys, readJsonLines, testS3Client } from '../helpers/s3';

const HOUR = 3_600_000;
const ROWS = 150_000;

describe('worker shutdown on SIGTERM', function () {
  this.timeout(180_000);
  let ch: TestClickHouse;
  let s3: S3Client;
  let bucket: string;
  let prefix: string;
  let store: Store;
  let queue: BullMqRunQueue;
  let env: Record<string, string>;
  const workers: ServiceProcess[] = [];
  const start = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;

  before(async () => {
    ch = await new TestClickHouse().setup();
    const at = chTime(new Date(start + 600_000).toISOString());
    await ch.insert(
      Array.from({ length: ROWS }, () =>
        makeEvent({ inserted_at: at, properties: JSON.stringify({ pad: 'p'.repeat(300) }) }),
      ),
    );
  });
  after(async () => ch.drop());

  beforeEach(async () => {
    s3 = testS3Client();
    bucket = await createBucket(s3);
    prefix = uniqueName('bxs');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 5, backoffMs: 200 });
    env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: ch.database,
      QUEUE_PREFIX: prefix,
      RUN_BACKOFF_MS: '200',
    };
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
    await queue.obliterate();
    const keys = await store.redis.keys(`${prefix}:*`);
    if (keys.length) await store.redis.del(...keys);
    await Promise.all([queue.close(), store.close()]);
  });

  /** One export with one queued run over the big interval. */
  async function queueRun(): Promise<string> {
    const service = new ExportService(store, queue, createLogger({}, 'error'));
    const exp = await service.create({
      name: 'big',
      team_id: 1,
      interval: 'hour',
      // Not scheduled: the run below is its only one.
      end_at: new Date(start + HOUR).toISOString(),
      destination: {
        type: 'S3',
        config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, compression: 'gzip', ...S3_CREDENTIALS },
      },
    });
    const runId = runIdFor(exp.id, start);
    await store.runs.createMany([
      { id: runId, export_id: exp.id, data_interval_start: start, data_interval_end: start + HOUR },
    ]);
    await queue.enqueue([
      { run_id: runId, export_id: exp.id, data_interval_start: start, data_interval_end: start + HOUR },
    ]);
    return runId;
  }

  function startWorker(extra: Record<string, string>): ServiceProcess {
    const worker = new ServiceProcess('worker', { ...env, ...extra });
    workers.push(worker);
    return worker;
  }

  it('finishes the run in progress within the grace period, then exits 0', async () => {
    const runId = await queueRun();
    const sut = startWorker({ SHUTDOWN_GRACE_MS: '60000' });
    await sut.waitForLog('run started', 30_000);
    expect(await sut.stop('SIGTERM')).to.equal(0);
    const msgs = sut.logs.map((l) => l.msg);
    expect(msgs.indexOf('run completed')).to.be.greaterThan(msgs.indexOf('worker stopping'));
    expect(msgs).to.include('worker stopped');
    expect(await store.runs.get(runId)).to.deep.include({ status: 'Completed', records_completed: ROWS, attempts: 1 });
  });

  it('past the grace period hands the run back; another worker completes it, one object, every row once', async () => {
    const runId = await queueRun();
    const first = startWorker({ SHUTDOWN_GRACE_MS: '0' });
    await first.waitForLog('run started', 30_000);
    expect(await first.stop('SIGTERM')).to.equal(0);
    expect(first.logs.map((l) => l.msg)).to.not.include('run completed');
    expect((await store.runs.get(runId))!.status).to.equal('FailedRetryable');
    startWorker({});
    const run = await eventually(
      async () => {
        const r = await store.runs.get(runId);
        return r?.status === 'Completed' ? r : undefined;
      },
      90_000,
      'the run to complete on the second worker',
    );
    expect(run.attempts).to.equal(2);
    // The interval's one object, beside its receipt.
    const keys = (await listKeys(s3, bucket)).filter((k) => !k.endsWith('_receipt.json'));
    expect(keys).to.have.length(1);
    const rows = await readJsonLines(s3, bucket, keys[0]!);
    expect(rows).to.have.length(ROWS);
    expect(new Set(rows.map((r) => r.uuid)).size).to.equal(ROWS);
  });
});

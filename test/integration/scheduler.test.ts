import { expect } from 'chai';
import { createLogger, runIdFor } from '@bx/core';
import { ExportJanitor, ExportService } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import { Store } from '@bx/store';
import { QueueInspector } from '../helpers/queue-inspector';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';

const ms = (iso: string) => Date.parse(iso);
const SETTLE = 60_000;
const logger = createLogger({}, 'error');

describe('scheduler with real Redis and BullMQ', () => {
  let prefix: string;
  let store: Store;
  let queue: BullMqRunQueue;
  let clock: number;
  let service: ExportService;
  let bullmq: QueueInspector;
  const sut = (): Scheduler => new Scheduler({ store, queue, logger, settleMs: SETTLE, batchSize: 3 });
  const create = (overrides: Record<string, unknown> = {}) =>
    service.create({
      name: 'e',
      team_id: 1,
      interval: 'hour',
      destination: { type: 'S3', config: { bucket_name: 'bucket-one', ...S3_CREDENTIALS } },
      ...overrides,
    });
  const queuedIds = async () => (await bullmq.runs.getJobs(['waiting', 'prioritized', 'delayed'])).map((j) => j.id!);

  beforeEach(() => {
    prefix = uniqueName('bxt');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 3, backoffMs: 10 });
    clock = ms('2024-01-01T05:30:00Z');
    service = new ExportService(store, queue, logger, () => clock);
    bullmq = new QueueInspector(prefix);
  });
  afterEach(async () => {
    await bullmq.close();
    await queue.obliterate();
    const keys = await store.redis.keys(`${prefix}:*`);
    if (keys.length) await store.redis.del(...keys);
    await queue.close();
    await store.close();
  });

  it('first run of a new export covers the interval containing its creation, after it ends plus the settle delay', async () => {
    const exp = await create();
    expect(await sut().tick(ms('2024-01-01T06:00:59Z'))).to.deep.equal({ exports: 0, enqueued: 0 });
    expect(await sut().tick(ms('2024-01-01T06:01:00Z'))).to.deep.equal({ exports: 1, enqueued: 1 });
    const run = await store.runs.get(runIdFor(exp.id, ms('2024-01-01T05:00:00Z')));
    expect(run).to.deep.include({
      status: 'Scheduled',
      data_interval_start: '2024-01-01T05:00:00.000Z',
      data_interval_end: '2024-01-01T06:00:00.000Z',
      attempts: 0,
      // The scheduler's clock (Redis time), not the host's.
      created_at: '2024-01-01T06:01:00.000Z',
    });
    expect(await queuedIds()).to.deep.equal([run!.id]);
    expect(run!.id).to.not.contain(':');
  });

  it('catches up every missed interval from start_at, oldest first, once', async () => {
    const exp = await create({ start_at: '2024-01-01T00:00:00Z' });
    const result = await sut().tick(ms('2024-01-01T05:02:00Z'));
    expect(result.enqueued).to.equal(5);
    const jobs = await bullmq.runs.getJobs(['waiting']);
    const starts = jobs.map((j) => (j.data as { data_interval_start: string }).data_interval_start).sort();
    expect(starts.map((s) => s.slice(11, 13))).to.deep.equal(['00', '01', '02', '03', '04']);
    expect((await sut().tick(ms('2024-01-01T05:02:00Z'))).enqueued).to.equal(0);
    expect((await store.runs.list(exp.id, { limit: 100 })).length).to.equal(5);
  });

  it('never schedules an interval that starts at or after end_at', async () => {
    const exp = await create({ start_at: '2024-01-01T00:00:00Z', end_at: '2024-01-01T02:30:00Z' });
    await sut().tick(ms('2024-01-02T00:00:00Z'));
    const runs = await store.runs.list(exp.id, { limit: 100 });
    expect(runs.map((r) => r.data_interval_start)).to.deep.equal([
      '2024-01-01T02:00:00.000Z',
      '2024-01-01T01:00:00.000Z',
      '2024-01-01T00:00:00.000Z',
    ]);
    expect(await store.schedule.due(Number.MAX_SAFE_INTEGER, 10)).to.deep.equal([]);
  });

  it('honours paused; unpausing resumes at the current interval, or backfills the gap when asked', async () => {
    const a = await create({ paused: true, start_at: '2024-01-01T00:00:00Z' });
    const b = await create({ start_at: '2024-01-01T00:00:00Z' });
    await service.pause(b.id);
    await sut().tick(ms('2024-01-01T05:02:00Z'));
    expect(await store.runs.list(a.id, { limit: 10 })).to.deep.equal([]);
    expect(await store.runs.list(b.id, { limit: 10 })).to.deep.equal([]);
    await service.unpause(a.id);
    await service.unpause(b.id, { backfill: true });
    await sut().tick(ms('2024-01-01T06:02:00Z'));
    expect((await store.runs.list(a.id, { limit: 10 })).map((r) => r.data_interval_start)).to.deep.equal([
      '2024-01-01T05:00:00.000Z',
    ]);
    expect(await store.runs.list(b.id, { limit: 10 })).to.have.length(6);
  });

  it('two schedulers ticking at once enqueue each interval exactly once', async () => {
    const exports = await Promise.all(Array.from({ length: 7 }, () => create({ start_at: '2024-01-01T00:00:00Z' })));
    const a = sut();
    const b = sut();
    const now = ms('2024-01-01T05:02:00Z');
    const results = await Promise.all([a.tick(now), b.tick(now), a.tick(now), b.tick(now)]);
    expect(results.reduce((n, r) => n + r.enqueued, 0)).to.equal(35);
    const ids = await queuedIds();
    expect(ids).to.have.length(35);
    expect(new Set(ids).size).to.equal(35);
    for (const exp of exports) expect(await store.runs.list(exp.id, { limit: 100 })).to.have.length(5);
  });

  it('re-enqueues a run whose job was lost between creating the run and enqueueing it', async () => {
    const exp = await create({ start_at: '2024-01-01T04:00:00Z' });
    const runId = runIdFor(exp.id, ms('2024-01-01T04:00:00Z'));
    await store.runs.createMany([
      {
        id: runId,
        export_id: exp.id,
        data_interval_start: ms('2024-01-01T04:00:00Z'),
        data_interval_end: ms('2024-01-01T05:00:00Z'),
      },
    ]);
    expect(await queuedIds()).to.deep.equal([]);
    await sut().tick(ms('2024-01-01T05:02:00Z'));
    expect(await queuedIds()).to.deep.equal([runId]);
  });

  it('after an interval change the next run spans to the new boundary: no gap, no overlap', async () => {
    const exp = await create({ start_at: '2024-01-01T00:00:00Z' });
    await sut().tick(ms('2024-01-01T15:02:00Z'));
    await service.update(exp.id, { interval: 'day' });
    await sut().tick(ms('2024-01-03T00:02:00Z'));
    const runs = (await store.runs.list(exp.id, { limit: 100 })).reverse();
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.data_interval_start).to.equal(runs[i - 1]!.data_interval_end);
    expect(runs.slice(-2).map((r) => [r.data_interval_start, r.data_interval_end])).to.deep.equal([
      ['2024-01-01T15:00:00.000Z', '2024-01-02T00:00:00.000Z'],
      ['2024-01-02T00:00:00.000Z', '2024-01-03T00:00:00.000Z'],
    ]);
  });

  it('a deleted export is gone at once; the janitor then removes its runs, jobs and every key of it', async () => {
    const exp = await create({ start_at: '2024-01-01T00:00:00Z' });
    const other = await create({ start_at: '2024-01-01T00:00:00Z' });
    await sut().tick(ms('2024-01-01T05:02:00Z'));
    expect(await queuedIds()).to.have.length(10);
    await store.runLogs.append(runIdFor(exp.id, ms('2024-01-01T00:00:00Z')), [
      { timestamp: '2024-01-01T06:00:00.000Z', level: 'info', message: 'a line' },
    ]);
    // What the reconciler keeps of an export: its records, its lock, its counters.
    const record = {
      start: ms('2024-01-01T00:00:00Z'),
      end: ms('2024-01-01T01:00:00Z'),
      status: 'mismatch' as const,
      sourceRecords: 2,
      exportedRecords: 1,
      checkedAt: clock,
      version: 1,
    };
    for (const id of [exp.id, other.id]) {
      await store.reconciliation.record(id, [record], 1);
      expect(await store.reconciliation.lock(id, 60_000)).to.be.a('string');
    }
    await service.delete(exp.id);
    const gone = await service.get(exp.id).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(gone).to.contain('not found');
    expect((await sut().tick(ms('2024-01-01T06:02:00Z'))).enqueued).to.equal(1); // the other export only

    const janitor = new ExportJanitor(store, queue, logger);
    expect(await janitor.pass()).to.equal(1);
    expect(await janitor.pass()).to.equal(0);
    expect((await queuedIds()).filter((id) => id.startsWith(exp.id))).to.deep.equal([]);
    // Every key but BullMQ's event stream (a capped log of what happened to jobs, 10,000 entries at most).
    const keys = (await store.redis.keys(`${prefix}:*`)).filter((key) => !key.endsWith(':events'));
    const values = await Promise.all(keys.map(async (key) => `${key} ${JSON.stringify(await dump(key))}`));
    expect(values.filter((v) => v.includes(exp.id))).to.deep.equal([]);
    expect(values.filter((v) => v.includes(other.id))).to.not.be.empty;
  });

  it('a catch-up creates runs only a window ahead of the workers, oldest first', async () => {
    const exp = await create({ interval: 'every 5 minutes', start_at: '2019-01-01T00:00:00Z' });
    const windowed = new Scheduler({ store, queue, logger, settleMs: 0, runWindow: 50, windowRetryMs: 1000 });
    const now = ms('2024-01-01T05:30:00Z');
    expect((await windowed.tick(now)).enqueued).to.equal(50);
    expect((await windowed.tick(now)).enqueued).to.equal(0); // window full: not due again for windowRetryMs
    expect((await windowed.tick(now + 1000)).enqueued).to.equal(0); // still full
    const runs = (await store.runs.list(exp.id, { limit: 100 })).reverse();
    expect(runs).to.have.length(50);
    expect(runs[0]!.data_interval_start).to.equal('2019-01-01T00:00:00.000Z');
    expect(runs[49]!.data_interval_start).to.equal('2019-01-01T04:05:00.000Z');
    // Ten runs finish: ten more intervals get runs, the next ones in order.
    for (const run of runs.slice(0, 10)) {
      await store.runs.start(run.id);
      await store.runs.complete(run.id, { records: 0, bytes: 0, files: [] });
    }
    expect((await windowed.tick(now + 2000)).enqueued).to.equal(10);
    const after = (await store.runs.list(exp.id, { limit: 100 })).reverse();
    expect(after.map((r) => r.data_interval_start).slice(-1)).to.deep.equal(['2019-01-01T04:55:00.000Z']);
    expect(await store.runs.unfinishedCounts([exp.id])).to.deep.equal([50]);
  });

  const dump = async (key: string): Promise<unknown> => {
    const type = await store.redis.type(key);
    if (type === 'hash') return store.redis.hgetall(key);
    if (type === 'zset') return store.redis.zrange(key, 0, -1);
    if (type === 'set') return store.redis.smembers(key);
    if (type === 'list') return store.redis.lrange(key, 0, -1);
    if (type === 'stream') return store.redis.xrange(key, '-', '+');
    return store.redis.get(key);
  };
});

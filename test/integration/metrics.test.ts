import { expect } from 'chai';
import { jobContext, sourceConfig } from '../helpers/run-context';
import { ClickHouseSource } from '@bx/clickhouse';
import type { Run } from '@bx/core';
import { IntervalChecksums } from '@bx/clickhouse/checksums';
import { writerFor } from '@bx/destinations';
import { Reconciler } from '@bx/operations';
import { Scheduler } from '@bx/scheduler';
import { createRunProcessor } from '@bx/worker';
import { ApiHarness } from '../helpers/api-harness';
import { TestClickHouse, testClickHouseSource } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { eventually } from '../helpers/processes';
import { createBucket, testS3Client } from '../helpers/s3';

const HOUR = 3600_000;

/** `name{a="b",...}` → value, for every sample of a Prometheus text exposition. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample: ${line}`);
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}=${v}`).sort();
    samples.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]));
  }
  return samples;
}

describe('GET /metrics', () => {
  let api: ApiHarness;
  let ch: TestClickHouse;
  let source: ClickHouseSource;
  let metrics: Map<string, number>;
  let scrapedAt: number;
  const ids: Record<'ok' | 'broken' | 'fresh', string> = { ok: '', broken: '', fresh: '' };
  let hour: number;
  let okRuns: Run[];

  before(async () => {
    // The API's clock stops at `now` (Redis time, as the scheduler's): the export created without
    // start_at begins its schedule at `hour` even if the clock passes an hour meanwhile.
    const stopped: { at?: number } = {};
    api = await new ApiHarness({ clock: () => stopped.at ?? Date.now() }).start();
    const now = await api.store.now();
    stopped.at = now;
    hour = Math.floor(now / HOUR) * HOUR;
    ch = await new TestClickHouse().setup();
    await ch.insert(
      Array.from({ length: 5 }, () => makeEvent({ team_id: 7, inserted_at: chTime(iso(hour - 3 * HOUR)) })),
    );
    source = testClickHouseSource({ requestTimeoutMs: 10_000 });
    const bucket = await createBucket(testS3Client());

    const create = async (bucketName: string, startAt: string | null) => {
      const config = { bucket_name: bucketName, endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS };
      const body = { name: 'm', team_id: 7, interval: 'hour', start_at: startAt, destination: { type: 'S3', config } };
      const res = await api.call('POST', '/api/exports', { body });
      expect(res.status).to.equal(201);
      return res.json.id as string;
    };
    ids.ok = await create(bucket, iso(hour - 3 * HOUR));
    ids.broken = await create('no-such-bucket-metrics', iso(hour - 3 * HOUR));
    ids.fresh = await create(bucket, null);
    await new Scheduler({ store: api.store, queue: api.queue, logger: api.logger, settleMs: 0 }).tick(now);

    // The worker's processor, called directly: the run records and counters change as in production.
    const processor = createRunProcessor({
      store: api.store,
      source,
      destinationFor: (exp) => writerFor(exp.destination),
      config: sourceConfig(ch.database, ch.table),
      logger: api.logger,
    });
    const ctx = jobContext();
    const runOf = (exportId: string, start: number) => ({
      run_id: `${exportId}-${iso(start).slice(0, 19).replace(/[-:]/g, '')}Z`,
      export_id: exportId,
      data_interval_start: start,
      data_interval_end: start + HOUR,
    });
    for (const start of [hour - 3 * HOUR, hour - 2 * HOUR, hour - HOUR]) await processor(runOf(ids.ok, start), ctx);
    const failure = await processor(runOf(ids.broken, hour - 3 * HOUR), ctx);
    expect(failure).to.deep.include({ status: 'failed', retry: false });
    okRuns = await api.store.runs.list(ids.ok, { limit: 10 });

    // A late row in the first interval, found by a reconciler pass (no repair: auto_repair off).
    await ch.insert([makeEvent({ team_id: 7, inserted_at: chTime(iso(hour - 3 * HOUR + 1000)) })]);
    expect(
      (await api.call('PATCH', `/api/exports/${ids.ok}`, { body: { auto_repair: false } })).json.auto_repair,
    ).to.equal(false);
    const checksums = IntervalChecksums.fromConfig({
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_QUERY_TIMEOUT_MS: 10_000,
      CLICKHOUSE_IDLE_TIMEOUT_MS: 10_000,
    });
    const table = { CLICKHOUSE_DATABASE: ch.database, EVENTS_TABLE: ch.table, EVENTS_INTERVAL_COLUMN: 'inserted_at' };
    const reconciler = new Reconciler(api.store, api.queue, (items) => checksums.ofExports(items, table), api.logger, {
      windowMs: 72 * HOUR,
      keepMismatchesMs: 90 * 24 * HOUR,
    });
    expect(await reconciler.pass(now + 1000)).to.deep.include({ checked: 3, mismatches: 1, late_rows: 1 });
    await reconciler.pass(now + 2000);
    await checksums.close();

    const res = await api.call('GET', '/metrics', { token: null });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.contain('text/plain');
    scrapedAt = await api.store.now();
    metrics = parseMetrics(res.text);
  });
  after(async () => {
    await api.close();
    await source.close();
    await ch.drop();
  });

  const sample = (name: string, labels: Record<string, string> = {}) => {
    const key = `${name}{${Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(',')}}`;
    expect(metrics.has(key), `${key} in /metrics`).to.equal(true);
    return metrics.get(key)!;
  };

  it('counts runs by status', () => {
    expect(okRuns.map((r) => r.status)).to.deep.equal(['Completed', 'Completed', 'Completed']);
    expect(sample('bx_runs', { status: 'Completed' })).to.equal(3);
    expect(sample('bx_runs', { status: 'Failed' })).to.equal(1);
    expect(sample('bx_runs', { status: 'Scheduled' })).to.equal(2);
    expect(sample('bx_runs', { status: 'Running' })).to.equal(0);
  });

  it('adds up rows and bytes per export from the completed runs', () => {
    expect(sample('bx_export_rows_total', { export_id: ids.ok })).to.equal(5);
    const bytes = okRuns.reduce((sum, r) => sum + r.bytes_exported, 0);
    expect(bytes).to.be.greaterThan(0);
    expect(sample('bx_export_bytes_total', { export_id: ids.ok })).to.equal(bytes);
    expect(sample('bx_export_rows_total', { export_id: ids.broken })).to.equal(0);
  });

  it('has a run duration histogram per outcome', () => {
    expect(sample('bx_run_duration_seconds_count', { status: 'Completed' })).to.equal(3);
    expect(sample('bx_run_duration_seconds_bucket', { status: 'Completed', le: '+Inf' })).to.equal(3);
    expect(sample('bx_run_duration_seconds_bucket', { status: 'Completed', le: '60' })).to.equal(3);
    expect(sample('bx_run_duration_seconds_sum', { status: 'Completed' })).to.be.within(0.001, 60);
    expect(sample('bx_run_duration_seconds_count', { status: 'Failed' })).to.equal(1);
  });

  it('reports queue depth per queue and state', () => {
    // The scheduler enqueued six jobs; the processor ran outside BullMQ, so they still wait.
    expect(sample('bx_queue_jobs', { queue: 'export-runs', state: 'waiting' })).to.equal(6);
    expect(sample('bx_queue_jobs', { queue: 'export-runs', state: 'active' })).to.equal(0);
  });

  it('reports lag from the oldest interval not exported, 0 for exports that keep up', () => {
    // broken: its oldest run failed, so data since the end of that interval is missing.
    const expected = (scrapedAt - (hour - 2 * HOUR)) / 1000;
    expect(sample('bx_export_lag_seconds', { export_id: ids.broken })).to.be.within(expected - 5, expected);
    // ok and fresh are at `hour`: 0 while that interval runs, the time since its end once the
    // clock has passed it (the scrape may come after an hour boundary).
    const keptUp = Math.max(0, (scrapedAt - (hour + HOUR)) / 1000);
    expect(sample('bx_export_lag_seconds', { export_id: ids.ok })).to.be.within(Math.max(0, keptUp - 5), keptUp);
    expect(sample('bx_export_lag_seconds', { export_id: ids.fresh })).to.be.within(Math.max(0, keptUp - 5), keptUp);
  });

  it("counts the reconciler's intervals checked, mismatches found, late rows and repairs per export", () => {
    expect(sample('bx_reconcile_intervals_checked_total', { export_id: ids.ok })).to.equal(6);
    expect(sample('bx_reconcile_mismatches_total', { export_id: ids.ok })).to.equal(1);
    expect(sample('bx_reconcile_late_rows_total', { export_id: ids.ok })).to.equal(1);
    expect(sample('bx_reconcile_repairs_total', { export_id: ids.ok })).to.equal(0);
    // Nothing of broken was completed: nothing checked, no series.
    expect(metrics.has(`bx_reconcile_intervals_checked_total{export_id=${ids.broken}}`)).to.equal(false);
  });

  it('drops the series of a deleted export', async () => {
    expect((await api.call('DELETE', `/api/exports/${ids.fresh}`)).status).to.equal(204);
    // A reading is served for METRICS_KEEP_MS to the scrapes that follow it: the next one drops them.
    const after = await eventually(
      async () => {
        const scraped = parseMetrics((await api.call('GET', '/metrics', { token: null })).text);
        return [...scraped.keys()].some((k) => k.includes(ids.fresh)) ? undefined : scraped;
      },
      10_000,
      "a scrape without the deleted export's series",
    );
    expect(after.has(`bx_export_lag_seconds{export_id=${ids.ok}}`)).to.equal(true);
  });
});

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

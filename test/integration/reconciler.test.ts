import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { isoSeconds, isoTimestamp, runIdFor, type Span } from '@bx/core';
import { AlertWebhook } from '@bx/operations';
import { Store } from '@bx/store';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { HOUR, ReconcileBed, hours } from '../helpers/reconcile-bed';
import { createBucket, getObject, listKeys, readJsonLines, testS3Client } from '../helpers/s3';
import { webhookReceiver } from '../helpers/webhook-receiver';

const T0 = Date.parse('2024-03-01T00:00:00Z');
/** The reconciler looks at 3 hourly intervals that have ended by then. */
const NOW = T0 + 4 * HOUR;
const SPANS = hours(T0, 3);

/**
 * Receipts and the reconciler against the real servers: runs exported to S3
 * by the real worker, late and deleted rows at ClickHouse 18.16, one
 * reconciler pass, the destination compared with the source again.
 */
describe('receipts and reconciliation, S3', function () {
  this.timeout(120_000);
  let bed: ReconcileBed;
  let s3: S3Client;
  let bucket: string;
  const destination = () => ({
    type: 'S3',
    config: {
      bucket_name: bucket,
      endpoint_url: testEnv.S3_ENDPOINT_URL,
      prefix: 'r',
      compression: 'gzip',
      ...S3_CREDENTIALS,
    },
  });
  const stem = (span: Span) => `r/${isoSeconds(span.start)}-${isoSeconds(span.end)}`;
  /** The uuids S3 holds for an interval (its data objects), sorted. */
  const exported = async (span: Span): Promise<string[]> => {
    const keys = (await listKeys(s3, bucket, stem(span))).filter((k) => /\.jsonl\.gz$/.test(k));
    const uuids: string[] = [];
    for (const key of keys) uuids.push(...(await readJsonLines(s3, bucket, key)).map((r) => r.uuid as string));
    return uuids.sort();
  };

  beforeEach(async () => {
    bed = await new ReconcileBed(NOW).start();
    s3 = testS3Client();
    bucket = await createBucket(s3);
    await bed.seed(1, SPANS, 40);
    await bed.seed(2, SPANS, 7);
  });
  afterEach(() => bed.stop());

  it("a run's receipt is ClickHouse's own count and checksum of the interval, here and at the destination", async () => {
    bed.startWorker();
    const id = await bed.createExport(1, T0, T0 + 3 * HOUR, destination());
    const runs = await bed.completed(id, 3);
    for (const [i, span] of SPANS.entries()) {
      const source = await bed.sourceOf(1, span);
      const run = runs[i]!;
      expect(run.receipt).to.deep.equal({
        records: source.records,
        checksum: source.checksum,
        min_inserted_at: isoTimestamp(source.min),
        max_inserted_at: isoTimestamp(source.max),
        files: run.files,
        version: 1,
      });
      const stored = JSON.parse((await getObject(s3, bucket, `${stem(span)}_receipt.json`)).toString());
      expect(stored).to.deep.equal({
        export_id: id,
        data_interval_start: run.data_interval_start,
        data_interval_end: run.data_interval_end,
        ...run.receipt,
      });
    }
  });

  it('late rows and deleted rows: one pass re-exports those intervals, the destination holds exactly the source', async () => {
    bed.startWorker();
    const id = await bed.createExport(1, T0, T0 + 3 * HOUR, destination());
    await bed.completed(id, 3);
    const late = await bed.insertLate(1, SPANS[0]!, 5);
    await bed.insertLate(2, SPANS[0]!, 3); // another team's late rows change nothing of this export
    const gone = (await bed.sourceOf(1, SPANS[1]!)).uuids.slice(0, 4);
    await bed.deleteAtSource(gone);

    const hook = await webhookReceiver();
    const sut = bed.reconciler({ webhook: new AlertWebhook(hook.url, bed.logger) });
    const first = await sut.pass(NOW);
    hook.server.close();
    expect(first).to.deep.equal({ exports: 1, checked: 3, mismatches: 2, late_rows: 5, repairs: 0 });
    expect(
      hook.notices.map((a) => [
        a.type,
        a.export_id,
        a.data_interval_start,
        a.source_records,
        a.exported_records,
        a.repair,
      ]),
    ).to.have.deep.members([
      ['batch_export.reconciliation_mismatch', id, new Date(SPANS[0]!.start).toISOString(), 45, 40, true],
      ['batch_export.reconciliation_mismatch', id, new Date(SPANS[1]!.start).toISOString(), 36, 40, true],
    ]);
    const statuses = (await bed.store.reconciliation.list(id)).map((r) => [r.start, r.status]);
    expect(statuses).to.deep.equal([
      [SPANS[2]!.start, 'ok'],
      [SPANS[1]!.start, 'repairing'],
      [SPANS[0]!.start, 'repairing'],
    ]);

    await bed.completed(id, 2, 2);
    for (const span of SPANS) expect(await exported(span)).to.deep.equal((await bed.sourceOf(1, span)).uuids);
    expect(await exported(SPANS[0]!)).to.include.members(late.map((e) => e.uuid));
    const runs = await bed.store.runs.getMany(SPANS.map((s) => runIdFor(id, s.start)));
    expect(runs.map((r) => [r!.status, r!.attempts, r!.receipt!.version])).to.deep.equal([
      ['Completed', 2, 2],
      ['Completed', 2, 2],
      ['Completed', 1, 1],
    ]);
    const receipt = JSON.parse((await getObject(s3, bucket, `${stem(SPANS[0]!)}_receipt.json`)).toString());
    expect(receipt).to.deep.include({ records: 45, version: 2 });

    const second = await sut.pass(NOW + 60_000);
    expect(second).to.deep.equal({ exports: 1, checked: 3, mismatches: 0, late_rows: 0, repairs: 2 });
    const view = await bed.exports.reconciliation(id);
    expect(
      view.results.map((r) => [r.data_interval_start, r.status, r.source_records, r.exported_records]),
    ).to.deep.equal([
      [new Date(SPANS[2]!.start).toISOString(), 'ok', 40, 40],
      [new Date(SPANS[1]!.start).toISOString(), 'repaired', 36, 36],
      [new Date(SPANS[0]!.start).toISOString(), 'repaired', 45, 45],
    ]);
    // A third pass finds nothing new: counters move by the intervals checked only.
    expect(await sut.pass(NOW + 120_000)).to.deep.equal({
      exports: 1,
      checked: 3,
      mismatches: 0,
      late_rows: 0,
      repairs: 0,
    });
    const stats = (await bed.store.stats.snapshot()).exports.find((e) => e.id === id)!;
    expect(stats.reconcile).to.deep.equal({ checked: 9, mismatches: 2, late_rows: 5, repairs: 2 });
  });

  it('auto_repair false: the mismatch stays until a manual retry, which shows as repaired', async () => {
    bed.startWorker();
    const id = await bed.createExport(1, T0, T0 + 3 * HOUR, destination(), { auto_repair: false });
    await bed.completed(id, 3);
    await bed.insertLate(1, SPANS[2]!, 2);
    const sut = bed.reconciler();
    expect(await sut.pass(NOW)).to.deep.include({ mismatches: 1, late_rows: 2 });
    expect(await sut.pass(NOW + 1000)).to.deep.include({ mismatches: 0 });
    const record = (await bed.store.reconciliation.list(id))[0]!;
    expect(record).to.deep.include({
      start: SPANS[2]!.start,
      status: 'mismatch',
      sourceRecords: 42,
      exportedRecords: 40,
    });
    expect((await bed.store.runs.get(runIdFor(id, SPANS[2]!.start)))!.attempts).to.equal(1);

    await bed.store.runs.reschedule(runIdFor(id, SPANS[2]!.start));
    await bed.queue.requeue({
      run_id: runIdFor(id, SPANS[2]!.start),
      export_id: id,
      data_interval_start: SPANS[2]!.start,
      data_interval_end: SPANS[2]!.end,
    });
    await bed.completed(id, 1, 2);
    expect(await sut.pass(NOW + 2000)).to.deep.include({ repairs: 1 });
    expect((await bed.store.reconciliation.list(id))[0]).to.deep.include({ status: 'repaired', sourceRecords: 42 });
  });

  it('an interval whose run record retention removed is left unchecked, the others checked and repaired', async () => {
    bed.startWorker();
    const id = await bed.createExport(1, T0, T0 + 3 * HOUR, destination());
    await bed.completed(id, 3);
    await bed.insertLate(1, SPANS[0]!, 2);
    await bed.insertLate(1, SPANS[1]!, 2);
    // RUN_RETENTION_DAYS shorter than the window: the first interval's record is gone.
    expect(await bed.store.runs.deleteMany([runIdFor(id, SPANS[0]!.start)], { retention: true })).to.equal(1);
    const sut = bed.reconciler();
    expect(await sut.pass(NOW)).to.deep.equal({ exports: 1, checked: 2, mismatches: 1, late_rows: 2, repairs: 0 });
    expect((await bed.store.reconciliation.list(id)).map((r) => [r.start, r.status])).to.deep.equal([
      [SPANS[2]!.start, 'ok'],
      [SPANS[1]!.start, 'repairing'],
    ]);
    await bed.completed(id, 1, 2);
    expect(await bed.store.runs.get(runIdFor(id, SPANS[0]!.start))).to.equal(null);
  });

  it('two schedulers: each mismatch is repaired once, also when their locks expire mid-pass', async () => {
    const ids: string[] = [];
    bed.startWorker();
    for (let i = 0; i < 4; i++) ids.push(await bed.createExport(1, T0, T0 + 3 * HOUR, destination()));
    for (const id of ids) await bed.completed(id, 3);
    await bed.stopWorker();
    await bed.insertLate(1, SPANS[1]!, 3);
    const other = Store.connect(testEnv.REDIS_URL, bed.prefix);
    try {
      // Locks of 1 ms: only the compare-and-set on the receipt version keeps them apart.
      const a = bed.reconciler({ lockMs: 1, chunk: 1 });
      const b = bed.reconciler({ lockMs: 1, chunk: 3 }, other);
      const passes = await Promise.all([a.pass(NOW), b.pass(NOW), a.pass(NOW + 1), b.pass(NOW + 1)]);
      expect(passes.reduce((n, p) => n + p.mismatches, 0)).to.equal(ids.length);
      for (const id of ids) {
        const run = (await bed.store.runs.get(runIdFor(id, SPANS[1]!.start)))!;
        expect(run.status).to.equal('Scheduled');
        expect((await bed.store.reconciliation.list(id)).find((r) => r.start === SPANS[1]!.start)!.status).to.equal(
          'repairing',
        );
      }
      const counts = await bed.queue.jobCounts();
      expect(counts.find((q) => q.queue === 'export-runs')!.counts.waiting).to.equal(ids.length);
      bed.startWorker();
      for (const id of ids) {
        await bed.completed(id, 1, 2);
        const run = (await bed.store.runs.get(runIdFor(id, SPANS[1]!.start)))!;
        expect([run.attempts, run.receipt!.version, run.receipt!.records]).to.deep.equal([2, 2, 43]);
      }
      const after = await Promise.all([a.pass(NOW + 2), b.pass(NOW + 2)]);
      expect(after.reduce((n, p) => n + p.repairs, 0)).to.equal(ids.length);
    } finally {
      await other.close();
    }
  });
});

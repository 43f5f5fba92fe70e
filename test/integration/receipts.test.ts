import { expect } from 'chai';
import { runIdFor, type RunReceipt } from '@bx/core';
import { ReceiptTally, tallied, type RunContext } from '@bx/batch';
import { asRows, chTime, makeEvent, type SourceEvent } from '../helpers/events';
import { postgresTarget, snowflakeTarget, type StoredReceipt } from '../helpers/receipt-targets';
import { HOUR, ReconcileBed, hours } from '../helpers/reconcile-bed';
import { MemoryRunState, runContext } from '../helpers/run-context';

// One body per behaviour, run against each table destination (contract: Receipts).
for (const target of [postgresTarget(), snowflakeTarget()]) {
  describe(`${target.name} receipts: batch_export_receipts, in the transaction of the rows`, function () {
    this.timeout(60_000);
    const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
    const events = Array.from({ length: 50 }, (_, i) =>
      makeEvent({ inserted_at: chTime(new Date(span.start + i * 60_000).toISOString()) }),
    );
    const state = new MemoryRunState();

    /** One attempt's write, with the receipt the worker would hand it. */
    const write = async (rows: SourceEvent[], version: number) => {
      const tally = new ReceiptTally();
      const ctx: RunContext = {
        ...runContext(span, state),
        exportId: 'export-1',
        attempt: version,
        receipt: { version, build: (files) => tally.receipt(files, version) },
      };
      return target.write(tallied(target.batches(asRows(rows)), tally), ctx);
    };
    /** The row a write of the first `n` events leaves, with the receipt it answered. */
    const expected = (n: number, receipt: RunReceipt): StoredReceipt => ({
      export_id: 'export-1',
      table_name: 'events',
      start: span.start,
      end: span.end,
      records: n,
      checksum: receipt.checksum,
      min_inserted_at: span.start,
      max_inserted_at: span.start + (n - 1) * 60_000,
      files: receipt.files,
      version: receipt.version,
    });
    const uuidsOf = (rows: SourceEvent[]) => rows.map((e) => e.uuid).sort();

    beforeEach(() => target.setup());
    afterEach(() => target.teardown());

    it('writes one receipt row per export and interval with the load, replaced by a re-run', async () => {
      const first = await write(events, 1);
      expect(first.receipt).to.deep.include({ records: 50, version: 1 });
      expect(await target.receipts()).to.deep.equal([expected(50, first.receipt!)]);

      const second = await write(events.slice(0, 10), 2);
      expect(second.receipt).to.deep.include({ records: 10, version: 2 });
      expect(await target.receipts()).to.deep.equal([expected(10, second.receipt!)]);
      expect(await target.uuids()).to.deep.equal(uuidsOf(events.slice(0, 10)));
    });

    it('rows and receipt commit together or not at all: a failed load keeps the old receipt, a failed receipt the old rows', async () => {
      await write(events, 1);
      const snapshot = async () => ({ uuids: await target.uuids(), receipts: await target.receipts() });
      const before = await snapshot();
      expect(before.uuids).to.deep.equal(uuidsOf(events));

      for (const [what, version] of [
        ['load', 2],
        ['receipt', 3],
      ] as const) {
        const message = await target.breakNext(what, version);
        const err = await write(events.slice(0, 5), version).then(
          () => expect.fail(`the ${what} should fail`),
          (e: Error) => e,
        );
        expect(err.message).to.match(message);
        expect(await snapshot(), `after the failed ${what}`).to.deep.equal(before);
      }

      const after = await write(events.slice(0, 5), 4);
      expect(await target.receipts()).to.deep.equal([expected(5, after.receipt!)]);
      expect(await target.uuids()).to.deep.equal(uuidsOf(events.slice(0, 5)));
    });
  });

  describe(`reconciliation, ${target.name}`, function () {
    this.timeout(120_000);
    const T0 = Date.parse('2024-03-01T00:00:00Z');
    const NOW = T0 + 4 * HOUR;
    const SPANS = hours(T0, 3);
    let bed: ReconcileBed;

    beforeEach(async () => {
      await target.setup();
      bed = await new ReconcileBed(NOW).start();
      await bed.seed(1, SPANS, 30);
      await bed.seed(2, SPANS, 4);
    });
    afterEach(async () => {
      await bed.stop();
      await target.teardown();
    });

    it('late and deleted rows: one pass re-exports the intervals; the table holds exactly the source; receipts version 2', async () => {
      bed.startWorker();
      const id = await bed.createExport(1, T0, T0 + 3 * HOUR, target.destination());
      const runs = await bed.completed(id, 3);
      for (const [i, span] of SPANS.entries()) {
        const source = await bed.sourceOf(1, span);
        expect(runs[i]!.receipt).to.deep.include({ records: source.records, checksum: source.checksum, version: 1 });
        expect(await target.uuids(1, span)).to.deep.equal(source.uuids);
      }
      await bed.insertLate(1, SPANS[2]!, 4);
      await bed.deleteAtSource((await bed.sourceOf(1, SPANS[0]!)).uuids.slice(0, 3));

      expect(await bed.reconciler().pass(NOW)).to.deep.include({ checked: 3, mismatches: 2, late_rows: 4 });
      await bed.completed(id, 2, 2);
      for (const span of SPANS) expect(await target.uuids(1, span)).to.deep.equal((await bed.sourceOf(1, span)).uuids);
      const receipts = (await target.receipts()).filter((r) => r.export_id === id);
      expect(receipts.map((r) => [r.start, r.records, r.version])).to.deep.equal([
        [SPANS[0]!.start, 27, 2],
        [SPANS[1]!.start, 30, 1],
        [SPANS[2]!.start, 34, 2],
      ]);
      for (const [i, span] of SPANS.entries())
        expect(receipts[i]!.checksum).to.equal((await bed.sourceOf(1, span)).checksum);
      const repaired = await bed.store.runs.get(runIdFor(id, SPANS[2]!.start));
      expect(repaired!.receipt).to.deep.include({ records: 34, version: 2 });
      expect(await bed.reconciler().pass(NOW + 1000)).to.deep.include({ mismatches: 0, repairs: 2 });
    });
  });
}

import { expect } from 'chai';
import { runIdFor, type Span } from '@bx/core';
import { ReceiptTally, tallied, type EventBatch, type RunContext } from '@bx/batch';
import { PostgresDestination } from '@bx/destination-postgres';
import { asRows, chTime, makeEvent, rowBatches, type SourceEvent } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { HOUR, ReconcileBed, hours } from '../helpers/reconcile-bed';
import { MemoryRunState, runContext } from '../helpers/run-context';

/** A receipt row as the test reads it back: timestamps in epoch ms, files parsed. */
interface StoredReceipt {
  export_id: string;
  table_name: string;
  start: number;
  end: number;
  records: string;
  checksum: string;
  min_inserted_at: number | null;
  max_inserted_at: number | null;
  files: unknown;
  version: number;
}

async function receiptsOf(pg: TestPostgres): Promise<StoredReceipt[]> {
  const ms = (c: string) =>
    `(extract(epoch FROM "${c}") * 1000)::float8 AS "${c === 'data_interval_start' ? 'start' : c === 'data_interval_end' ? 'end' : c}"`;
  const { rows } = await pg.admin.query<StoredReceipt>(
    `SELECT "export_id", "table_name", ${ms('data_interval_start')}, ${ms('data_interval_end')}, "records"::text AS records,
            "checksum", ${ms('min_inserted_at')}, ${ms('max_inserted_at')}, "files", "version"
       FROM "${pg.schema}"."batch_export_receipts" ORDER BY "export_id", "data_interval_start"`,
  );
  return rows;
}

describe('Postgres receipts: batch_export_receipts, in the transaction of the rows', function () {
  this.timeout(60_000);
  const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
  const events = Array.from({ length: 50 }, (_, i) =>
    makeEvent({ inserted_at: chTime(new Date(span.start + i * 60_000).toISOString()) }),
  );
  let pg: TestPostgres;
  const state = new MemoryRunState();

  /** One attempt's write, with the receipt the worker would hand it; `fail` ends the source with an error. */
  const write = async (rows: SourceEvent[], version: number, fail = false) => {
    const tally = new ReceiptTally();
    const ctx: RunContext = {
      ...runContext(span, state),
      exportId: 'export-1',
      attempt: version,
      receipt: { version, build: (files) => tally.receipt(files, version) },
    };
    async function* batches(): AsyncGenerator<EventBatch> {
      yield* rowBatches(asRows(rows), 20);
      if (fail) throw new Error('the source went away');
    }
    return new PostgresDestination(pg.config(), { lockMs: 5000 }).write(tallied(batches(), tally), ctx);
  };
  const uuids = async () =>
    (await pg.admin.query<{ uuid: string }>(`SELECT "uuid" FROM "${pg.schema}"."events" ORDER BY "uuid"`)).rows.map(
      (r) => r.uuid,
    );

  beforeEach(async () => {
    pg = await new TestPostgres().setup();
  });
  afterEach(() => pg.drop());

  it('writes one receipt row per export and interval with the load, replaced by a re-run', async () => {
    const first = await write(events, 1);
    expect(first.receipt).to.deep.include({ records: 50, version: 1, files: [] });
    const row = (receipt: NonNullable<typeof first.receipt>) => ({
      export_id: 'export-1',
      table_name: 'events',
      start: span.start,
      end: span.end,
      records: String(receipt.records),
      checksum: receipt.checksum,
      min_inserted_at: Date.parse(receipt.min_inserted_at!),
      max_inserted_at: Date.parse(receipt.max_inserted_at!),
      files: [],
      version: receipt.version,
    });
    expect(await receiptsOf(pg)).to.deep.equal([row(first.receipt!)]);
    expect(first.receipt!.min_inserted_at).to.match(/^2024-01-01T10:00:00/);

    const second = await write(events.slice(0, 30), 2);
    expect(await receiptsOf(pg)).to.deep.equal([row(second.receipt!)]);
    expect(second.receipt).to.deep.include({ records: 30, version: 2 });
    expect(await uuids()).to.deep.equal(
      events
        .slice(0, 30)
        .map((e) => e.uuid)
        .sort(),
    );
  });

  it('rows and receipt commit together or not at all: a failed load keeps the old receipt, a failed receipt the old rows', async () => {
    await write(events, 1);
    const before = await receiptsOf(pg);

    // The source fails after every row was sent: nothing of this attempt stays.
    await write(events.slice(0, 10), 2, true).then(
      () => expect.fail('the load should fail'),
      (err: Error) => expect(err.message).to.match(/the source went away/),
    );
    expect(await receiptsOf(pg)).to.deep.equal(before);
    expect(await uuids()).to.have.length(50);

    // The receipt row refused (a constraint the test adds): the rows of that attempt do not stay either.
    await pg.admin.query(
      `ALTER TABLE "${pg.schema}"."batch_export_receipts" ADD CONSTRAINT no_third CHECK ("version" < 3)`,
    );
    await write(events.slice(0, 5), 3).then(
      () => expect.fail('the receipt should be refused'),
      (err: Error) => expect(err.message).to.match(/no_third/),
    );
    expect(await receiptsOf(pg)).to.deep.equal(before);
    expect(await uuids()).to.deep.equal(events.map((e) => e.uuid).sort());
  });
});

describe('reconciliation, Postgres', function () {
  this.timeout(120_000);
  const T0 = Date.parse('2024-03-01T00:00:00Z');
  const NOW = T0 + 4 * HOUR;
  const SPANS = hours(T0, 3);
  let bed: ReconcileBed;
  let pg: TestPostgres;

  /** The uuids the table holds for team 1 in a span, sorted. */
  const exported = async (span: Span) =>
    (
      await pg.admin.query<{ uuid: string }>(
        `SELECT "uuid" FROM "${pg.schema}"."events"
          WHERE "team_id" = 1 AND "inserted_at" >= to_timestamp($1) AND "inserted_at" < to_timestamp($2)`,
        [span.start / 1000, span.end / 1000],
      )
    ).rows
      .map((r) => r.uuid)
      .sort();

  beforeEach(async () => {
    pg = await new TestPostgres().setup();
    bed = await new ReconcileBed(NOW).start();
    await bed.seed(1, SPANS, 30);
    await bed.seed(2, SPANS, 4);
  });
  afterEach(async () => {
    await bed.stop();
    await pg.drop();
  });

  it('late and deleted rows: one pass re-exports the intervals; the table holds exactly the source; receipts version 2', async () => {
    bed.startWorker();
    const id = await bed.createExport(1, T0, T0 + 3 * HOUR, { type: 'Postgres', config: pg.config() });
    const runs = await bed.completed(id, 3);
    for (const [i, span] of SPANS.entries()) {
      const source = await bed.sourceOf(1, span);
      expect(runs[i]!.receipt).to.deep.include({ records: source.records, checksum: source.checksum, version: 1 });
      expect(await exported(span)).to.deep.equal(source.uuids);
    }
    await bed.insertLate(1, SPANS[2]!, 4);
    await bed.deleteAtSource((await bed.sourceOf(1, SPANS[0]!)).uuids.slice(0, 3));

    expect(await bed.reconciler().pass(NOW)).to.deep.include({ checked: 3, mismatches: 2, late_rows: 4 });
    await bed.completed(id, 2, 2);
    for (const span of SPANS) expect(await exported(span)).to.deep.equal((await bed.sourceOf(1, span)).uuids);
    const receipts = (await receiptsOf(pg)).filter((r) => r.export_id === id);
    expect(receipts.map((r) => [r.start, r.records, r.version])).to.deep.equal([
      [SPANS[0]!.start, '27', 2],
      [SPANS[1]!.start, '30', 1],
      [SPANS[2]!.start, '34', 2],
    ]);
    for (const [i, span] of SPANS.entries())
      expect(receipts[i]!.checksum).to.equal((await bed.sourceOf(1, span)).checksum);
    const repaired = await bed.store.runs.get(runIdFor(id, SPANS[2]!.start));
    expect(repaired!.receipt).to.deep.include({ records: 34, version: 2 });
    expect(await bed.reconciler().pass(NOW + 1000)).to.deep.include({ mismatches: 0, repairs: 2 });
  });
});

import { expect } from 'chai';
import fs from 'node:fs';
import { runIdFor, type RunReceipt, type Span } from '@bx/core';
import { ReceiptTally, tallied, type RunContext } from '@bx/batch';
import { SnowflakeDestination } from '@bx/destination-snowflake';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { HOUR, ReconcileBed, hours } from '../helpers/reconcile-bed';
import { MemoryRunState, runContext } from '../helpers/run-context';
import {
  byUuid,
  snowflakeConfig,
  startSnowflakeServer,
  storedRow,
  tmpDir,
  type SnowflakeServer,
} from '../helpers/snowflake';

const TABLE = 'ANALYTICS.PUBLIC.events';
const RECEIPTS = 'ANALYTICS.PUBLIC.batch_export_receipts';

describe('Snowflake receipts: batch_export_receipts, in the transaction of the rows', function () {
  this.timeout(60_000);
  const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
  const events = Array.from({ length: 50 }, (_, i) =>
    makeEvent({ inserted_at: chTime(new Date(span.start + i * 60_000).toISOString()) }),
  );
  const local = tmpDir();
  let server: SnowflakeServer;
  const state = new MemoryRunState();

  /** One attempt's write, with the receipt the worker would hand it. */
  const write = async (rows = events, version = 1) => {
    const tally = new ReceiptTally();
    const ctx: RunContext = {
      ...runContext(span, state),
      exportId: 'export-1',
      attempt: version,
      receipt: { version, build: (files) => tally.receipt(files, version) },
    };
    const sut = new SnowflakeDestination(snowflakeConfig(server), { tmpDir: local });
    return sut.write(tallied(rowBatches(asRows(rows), 20), tally), ctx);
  };
  const receiptRows = () => server.rows(RECEIPTS);

  beforeEach(async () => {
    server = await startSnowflakeServer({ users: { loader: 'loader-password' } });
  });
  afterEach(() => server.close());
  after(() => fs.rmSync(local, { recursive: true, force: true }));

  it('writes one receipt row per export and interval with the load, replaced by a re-run', async () => {
    const first = await write();
    expect(first.receipt).to.deep.include({ records: 50, version: 1 });
    const row = (receipt: RunReceipt) => ({
      export_id: 'export-1',
      table_name: 'events',
      data_interval_start: '2024-01-01T10:00:00Z',
      data_interval_end: '2024-01-01T11:00:00Z',
      records: receipt.records,
      checksum: receipt.checksum,
      min_inserted_at: '2024-01-01T10:00:00Z',
      max_inserted_at: receipt.records === 50 ? '2024-01-01T10:49:00Z' : '2024-01-01T10:09:00Z',
      files: receipt.files,
      version: receipt.version,
    });
    expect(receiptRows().map(({ written_at: _, ...r }) => r)).to.deep.equal([row(first.receipt!)]);
    const second = await write(events.slice(0, 10), 2);
    expect(receiptRows().map(({ written_at: _, ...r }) => r)).to.deep.equal([row(second.receipt!)]);
    expect(server.rows(TABLE).sort(byUuid)).to.deep.equal(events.slice(0, 10).map(storedRow).sort(byUuid));
  });

  it('rows and receipt commit together or not at all: a failed COPY keeps the old receipt, a failed receipt the old rows', async () => {
    await write();
    const before = { rows: server.rows(TABLE).sort(byUuid), receipts: receiptRows() };
    server.faults.queryError({ sql: /^COPY INTO/, code: '000603', sqlState: 'XX000', message: 'Processing aborted' });
    expect(await write(events.slice(0, 5), 2).catch((e: unknown) => e)).to.include({ retryable: true });
    expect({ rows: server.rows(TABLE).sort(byUuid), receipts: receiptRows() }).to.deep.equal(before);

    server.faults.queryError({ sql: /^INSERT INTO "batch_export_receipts"/, code: '000603', sqlState: 'XX000' });
    expect(await write(events.slice(0, 5), 2).catch((e: unknown) => e)).to.include({ retryable: true });
    expect({ rows: server.rows(TABLE).sort(byUuid), receipts: receiptRows() }).to.deep.equal(before);

    await write(events.slice(0, 5), 2);
    expect(server.rows(TABLE)).to.have.length(5);
    expect(receiptRows().map((r) => [r.records, r.version])).to.deep.equal([[5, 2]]);
  });
});

describe('reconciliation, Snowflake (loopback server)', function () {
  this.timeout(120_000);
  const T0 = Date.parse('2024-03-01T00:00:00Z');
  const NOW = T0 + 4 * HOUR;
  const SPANS = hours(T0, 3);
  let bed: ReconcileBed;
  let server: SnowflakeServer;

  /** The uuids the table holds for team 1 in a span, sorted. */
  const exported = (span: Span) =>
    server
      .rows(TABLE)
      .filter((r) => r.team_id === 1)
      .filter(
        (r) => Date.parse(r.inserted_at as string) >= span.start && Date.parse(r.inserted_at as string) < span.end,
      )
      .map((r) => r.uuid as string)
      .sort();

  beforeEach(async () => {
    server = await startSnowflakeServer({ users: { loader: 'loader-password' } });
    bed = await new ReconcileBed(NOW).start();
    await bed.seed(1, SPANS, 30);
    await bed.seed(2, SPANS, 4);
  });
  afterEach(async () => {
    await bed.stop();
    await server.close();
  });

  it('late and deleted rows: one pass re-exports the intervals; the table holds exactly the source; receipts version 2', async () => {
    bed.startWorker();
    const id = await bed.createExport(1, T0, T0 + 3 * HOUR, { type: 'Snowflake', config: snowflakeConfig(server) });
    const runs = await bed.completed(id, 3);
    for (const [i, span] of SPANS.entries()) {
      const source = await bed.sourceOf(1, span);
      expect(runs[i]!.receipt).to.deep.include({ records: source.records, checksum: source.checksum, version: 1 });
      expect(exported(span)).to.deep.equal(source.uuids);
    }
    await bed.insertLate(1, SPANS[2]!, 4);
    await bed.deleteAtSource((await bed.sourceOf(1, SPANS[0]!)).uuids.slice(0, 3));

    expect(await bed.reconciler().pass(NOW)).to.deep.include({ checked: 3, mismatches: 2, late_rows: 4 });
    await bed.completed(id, 2, 2);
    for (const span of SPANS) expect(exported(span)).to.deep.equal((await bed.sourceOf(1, span)).uuids);
    const receipts = server
      .rows(RECEIPTS)
      .filter((r) => r.export_id === id)
      .map((r) => [r.data_interval_start, r.records, r.version])
      .sort();
    expect(receipts).to.deep.equal([
      ['2024-03-01T00:00:00Z', 27, 2],
      ['2024-03-01T01:00:00Z', 30, 1],
      ['2024-03-01T02:00:00Z', 34, 2],
    ]);
    const repaired = await bed.store.runs.get(runIdFor(id, SPANS[2]!.start));
    expect(repaired!.receipt).to.deep.include({ records: 34, version: 2 });
    expect(await bed.reconciler().pass(NOW + 1000)).to.deep.include({ mismatches: 0, repairs: 2 });
  });
});

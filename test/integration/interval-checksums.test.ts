import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBatch, ReceiptTally } from '@bx/batch';
import { decodeRowBinary } from '@bx/clickhouse';
import { buildEventsQuery } from '@bx/model-events';
import {
  IntervalChecksums,
  buildGridChecksumsQuery,
  buildIntervalChecksumsQuery,
  type EventsTable,
} from '@bx/clickhouse/checksums';
import type { BatchExport, Span } from '@bx/core';
import { EVENTS_DDL_MODERN, TestClickHouse } from '../helpers/clickhouse';
import { testEnv } from '../helpers/env';
import { asRows, chTime, makeEvent, type SourceEvent } from '../helpers/events';
import { chdbSession, type ChdbSession } from '../modern-engine/chdb';

const HOUR = 3_600_000;
const T0 = Date.parse('2024-06-01T00:00:00Z');
const at = (ms: number) => chTime(new Date(ms).toISOString());
const exportOf = (team: number, filters: Partial<BatchExport> = {}) =>
  ({ team_id: team, model: 'events', include_events: [], exclude_events: [], ...filters }) as BatchExport;

/** Rows of teams 1 and 2 over six hours, bounds included: starts, last seconds, a null inserted_at. */
function sourceRows(): SourceEvent[] {
  const rows: SourceEvent[] = [];
  for (let h = 0; h < 6; h++) {
    for (const offset of [0, 1000, 1_799_000, HOUR - 1000]) {
      rows.push(makeEvent({ team_id: 1, inserted_at: at(T0 + h * HOUR + offset), event: h % 2 ? 'odd' : 'even' }));
    }
    rows.push(makeEvent({ team_id: 2, inserted_at: at(T0 + h * HOUR + 5000) }));
  }
  rows.push(makeEvent({ team_id: 1, inserted_at: null }));
  return rows;
}

/** What a receipt of each span must say, from the rows themselves (the worker's own tally). */
function expected(rows: SourceEvent[], team: number, spans: Span[], event?: string) {
  const out = new Map<number, { records: number; checksum: string }>();
  for (const span of spans) {
    const mine = rows.filter((r) => {
      if (r.team_id !== team || r.inserted_at === null || (event && r.event !== event)) return false;
      const t = Date.parse(r.inserted_at.replace(' ', 'T') + 'Z');
      return t >= span.start && t < span.end;
    });
    if (mine.length === 0) continue;
    const tally = new ReceiptTally();
    tally.add(EventBatch.fromRows(asRows(mine)));
    const receipt = tally.receipt([], 1);
    out.set(span.start, { records: receipt.records, checksum: receipt.checksum });
  }
  return out;
}

/** Hours 0, 1, 3 (a gap) on the grid; and spans that are not (two hours, then one). */
const GRID: Span[] = [0, 1, 3].map((h) => ({ start: T0 + h * HOUR, end: T0 + (h + 1) * HOUR }));
const IRREGULAR: Span[] = [
  { start: T0, end: T0 + 2 * HOUR },
  { start: T0 + 2 * HOUR, end: T0 + 3 * HOUR },
  { start: T0 + 4 * HOUR, end: T0 + 6 * HOUR },
];

describe('source checksums per interval (the reconciler and verify), ClickHouse 18.16', () => {
  let ch: TestClickHouse;
  let sut: IntervalChecksums;
  const rows = sourceRows();
  const table = (): EventsTable => ({
    CLICKHOUSE_DATABASE: ch.database,
    EVENTS_TABLE: 'events',
    EVENTS_INTERVAL_COLUMN: 'inserted_at',
  });

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(rows);
    sut = IntervalChecksums.fromConfig({
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_QUERY_TIMEOUT_MS: 30_000,
      CLICKHOUSE_IDLE_TIMEOUT_MS: 30_000,
    });
  });
  after(async () => {
    await sut.close();
    await ch.drop();
  });

  it('intervals on a grid, with a gap: each interval its own rows, bounds exact, rows in the gap dropped', async () => {
    expect(
      buildIntervalChecksumsQuery({
        ...table(),
        database: 'd',
        table: 't',
        intervalColumn: 'inserted_at',
        teamId: 1,
        spans: GRID,
      }),
    ).to.contain('intDiv');
    expect(await sut.ofExport(exportOf(1), GRID, table())).to.deep.equal(expected(rows, 1, GRID));
  });

  it('intervals off a grid (days across DST, a changed calendar): a multiIf over the ends, the same answers', async () => {
    expect(
      buildIntervalChecksumsQuery({
        database: 'd',
        table: 't',
        intervalColumn: 'inserted_at',
        teamId: 1,
        spans: IRREGULAR,
      }),
    ).to.contain('multiIf');
    expect(await sut.ofExport(exportOf(1), IRREGULAR, table())).to.deep.equal(expected(rows, 1, IRREGULAR));
  });

  it("applies the export's event filters, as its runs do", async () => {
    const odd = await sut.ofExport(exportOf(1, { include_events: ['odd'] }), GRID, table());
    expect(odd).to.deep.equal(expected(rows, 1, GRID, 'odd'));
    expect([...odd.keys()].sort()).to.deep.equal([T0 + HOUR, T0 + 3 * HOUR]);
  });

  it('many exports in one call: shared grid queries per team, other exports alone, each answer its own', async () => {
    const answers = await sut.ofExports(
      [
        { exp: exportOf(1), spans: GRID },
        { exp: exportOf(2), spans: GRID.slice(1) },
        { exp: exportOf(1), spans: IRREGULAR },
        { exp: exportOf(3), spans: GRID },
        { exp: exportOf(1), spans: [] },
      ],
      table(),
    );
    expect(answers).to.deep.equal([
      expected(rows, 1, GRID),
      expected(rows, 2, GRID.slice(1)),
      expected(rows, 1, IRREGULAR),
      new Map(),
      new Map(),
    ]);
  });
});

describe('the same queries and the receipt on a modern engine (chdb, DateTime64(6))', () => {
  let dir: string;
  let session: ChdbSession;
  const rows = sourceRows().map((r) => ({ ...r, inserted_at: r.inserted_at && `${r.inserted_at}.123456` }));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bx-chdb-receipts-'));
    session = chdbSession(dir);
    session.query('CREATE DATABASE IF NOT EXISTS analytics');
    session.query(EVENTS_DDL_MODERN('analytics', 'events'));
    const values = rows.map(
      (r) =>
        `('${r.uuid}', '${r.event}', '{}', '${r.timestamp}', ${r.team_id}, 'd', '', '${r.created_at}', '${r.person_id}', '{}', ${r.inserted_at === null ? 'NULL' : `'${r.inserted_at}'`})`,
    );
    session.query(`INSERT INTO analytics.events VALUES ${values.join(', ')}`);
  });
  after(() => {
    session.cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  const query = <T>(sql: string): T[] =>
    JSON.parse(`[${session.query(sql, 'JSONEachRow').toString().trim().split('\n').filter(Boolean).join(',')}]`) as T[];

  it("a run's receipt from the worker's tally is chdb's own count() and sum(sipHash64(toString(uuid)))", async () => {
    const span = { start: T0 + HOUR, end: T0 + 2 * HOUR };
    const sql = buildEventsQuery({
      database: 'analytics',
      table: 'events',
      intervalColumn: 'inserted_at',
      teamId: 1,
      start: span.start,
      end: span.end,
    });
    const out = await session.queryAsync(`${sql}\nFORMAT RowBinary`, { format: 'RowBinary' });
    const tally = new ReceiptTally();
    tally.add(decodeRowBinary(Buffer.from(out.bytes())));
    const [own] = query<{ n: string; c: string }>(
      `SELECT count() AS n, toString(sum(sipHash64(toString(uuid)))) AS c FROM analytics.events
       WHERE team_id = 1 AND inserted_at >= toDateTime(${span.start / 1000}) AND inserted_at < toDateTime(${span.end / 1000})`,
    );
    expect(tally.receipt([], 1)).to.deep.include({
      records: Number(own!.n),
      checksum: own!.c,
      min_inserted_at: '2024-06-01T01:00:00.123456+00:00',
      max_inserted_at: '2024-06-01T01:59:59.123456+00:00',
    });
    expect(Number(own!.n)).to.equal(4);
  });

  it('the grouped queries (grid, multiIf, many teams) run and agree with per-interval counts', () => {
    const base = { database: 'analytics', table: 'events', intervalColumn: 'inserted_at', teamId: 1 };
    for (const spans of [GRID, IRREGULAR]) {
      const grouped = new Map(
        query<{ bx_interval: number; bx_records: string; bx_checksum: string }>(
          buildIntervalChecksumsQuery({ ...base, spans }),
        ).map((r) => [Number(r.bx_interval) * 1000, { records: Number(r.bx_records), checksum: r.bx_checksum }]),
      );
      for (const span of spans) {
        const [own] = query<{ n: string; c: string }>(
          `SELECT count() AS n, toString(sum(sipHash64(toString(uuid)))) AS c FROM analytics.events
           WHERE team_id = 1 AND inserted_at >= toDateTime(${span.start / 1000}) AND inserted_at < toDateTime(${span.end / 1000})`,
        );
        expect(grouped.get(span.start)).to.deep.equal({ records: Number(own!.n), checksum: own!.c });
      }
    }
    const shared = query<{ bx_team: string; bx_interval: number; bx_records: string }>(
      buildGridChecksumsQuery({
        ...base,
        teamIds: [1, 2],
        grid: { origin: 0, step: HOUR },
        from: T0,
        to: T0 + 6 * HOUR,
      }),
    );
    expect(shared).to.have.length(12);
    expect(shared.filter((r) => Number(r.bx_team) === 2).every((r) => Number(r.bx_records) === 1)).to.equal(true);
  });
});

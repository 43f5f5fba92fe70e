import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { intervalExpression } from '@bx/clickhouse/checksums';
import { ReceiptChecksum, type Span } from '@bx/core';
import { buildPersonsChecksumsQuery, personsModel, PERSONS_QUERY_SETTINGS } from '@bx/model-persons';
import type { ChdbSession } from '../modern-engine/chdb';
import { EXPECTED, I0, I1, I2, LATE_MAPPING, scenarioChdb, scenarioSource } from '../helpers/person-scenarios';
import type { TestPersons } from '../helpers/persons';
import { sourceConfig } from '../helpers/run-context';

type Row = { bx_interval: number | string; bx_records: string; bx_checksum: string };
type Own = { n: string; c: string };

/** Per interval start (ms), the grouped query's count and checksum. */
const byInterval = (rows: Row[]) =>
  new Map(rows.map((r) => [Number(r.bx_interval) * 1000, { records: Number(r.bx_records), checksum: r.bx_checksum }]));

/** The grouped persons query of the spans, as the reconciler sends it (`keyAsText`: as npm run verify). */
const grouped = (database: string, spans: Span[], keyAsText?: boolean) =>
  buildPersonsChecksumsQuery({
    database,
    personsTable: 'person',
    distinctIdsTable: 'person_distinct_id2',
    teamId: 1,
    spans,
    interval: (column) => intervalExpression(column, spans),
    keyAsText,
  });

/** What a run of the span selects, counted and summed by ClickHouse itself (the receipt's figures). */
const ownOfRun = (database: string, span: Span) =>
  `SELECT count() AS n, toString(sum(sipHash64(distinct_id))) AS c FROM (${
    personsModel.query({ config: sourceConfig(database), teamId: 1, ...span }).sql
  })`;

/** What each interval's run exports (the scenarios' records), as a receipt counts it. */
const RECEIPTS = new Map(
  (
    [
      [I0, EXPECTED.I0],
      [I1, EXPECTED.I1],
      [I2, EXPECTED.I2],
    ] as const
  ).map(([span, records]) => {
    const sum = new ReceiptChecksum();
    for (const r of records) sum.add(r.distinct_id);
    return [span.start, { records: records.length, checksum: sum.toString() }];
  }),
);

/** Contiguous (a grid: arithmetic), and with a gap (multiIf). */
const SPAN_SETS: Span[][] = [
  [I0, I1, I2],
  [I0, I2],
];

/**
 * The reconciler's grouped query of a persons export: per interval, what
 * the interval's run would select now, so that it can be compared with the
 * run's receipt. The scenarios hold merges, deletions, a distinct_id whose
 * person arrives late, versions out of order and rows after the last interval.
 */
describe('persons checksums grouped by interval, on the real ClickHouse 18.16 server', function () {
  this.timeout(60_000);
  let ch: TestPersons;

  const rows = async <T>(query: string) =>
    (
      await ch.client.query({ query, format: 'JSONEachRow', clickhouse_settings: { ...PERSONS_QUERY_SETTINGS } })
    ).json<T>();

  before(async () => {
    const source = await scenarioSource();
    ch = source.ch;
    await source.source.close();
  });
  after(() => ch.drop());

  it("equals each interval's run: its records and ClickHouse's sum of sipHash64(distinct_id) over them", async () => {
    for (const spans of SPAN_SETS) {
      const sut = byInterval(await rows<Row>(grouped(ch.database, spans)));
      expect(sut.size).to.equal(spans.length);
      for (const span of spans) {
        const [own] = await rows<Own>(ownOfRun(ch.database, span));
        expect(sut.get(span.start), new Date(span.start).toISOString())
          .to.deep.equal({ records: Number(own!.n), checksum: own!.c })
          .and.deep.equal(RECEIPTS.get(span.start));
      }
    }
  });

  it('sees a mapping row arriving late in an exported interval', async () => {
    const before = byInterval(await rows<Row>(grouped(ch.database, [I0, I1, I2])));
    await ch.insert({ mappings: [LATE_MAPPING] });
    const after = byInterval(await rows<Row>(grouped(ch.database, [I0, I1, I2])));
    expect(after.get(I1.start)!.records).to.equal(before.get(I1.start)!.records + 1);
    expect(after.get(I1.start)!.checksum).to.not.equal(before.get(I1.start)!.checksum);
    expect(after.get(I0.start)).to.deep.equal(before.get(I0.start));
    expect(after.get(I2.start)).to.deep.equal(before.get(I2.start));
    const [own] = await rows<Own>(ownOfRun(ch.database, I1));
    expect(after.get(I1.start)).to.deep.equal({ records: Number(own!.n), checksum: own!.c });
  });
});

describe('persons checksums grouped by interval, on a modern engine (chdb)', () => {
  let dir: string;
  let session: ChdbSession;

  before(() => {
    ({ session, dir } = scenarioChdb('bx-chdb-persons-sums-'));
  });
  after(() => {
    session.cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  const rows = <T>(sql: string): T[] =>
    session
      .query(`${sql}\nSETTINGS join_use_nulls = 0`, 'JSONEachRow')
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as T);

  it("equals each interval's run", () => {
    for (const spans of SPAN_SETS) {
      const sut = byInterval(rows<Row>(grouped('posthog', spans)));
      expect(sut.size).to.equal(spans.length);
      for (const span of spans) expect(sut.get(span.start)).to.deep.equal(RECEIPTS.get(span.start));
    }
  });

  it('keys as text (npm run verify: invalid UTF-8 as U+FFFD) run too, and hash valid text as its bytes', () => {
    const sut = byInterval(rows<Row>(grouped('posthog', [I0, I1, I2], true)));
    for (const span of [I0, I1, I2]) expect(sut.get(span.start)).to.deep.equal(RECEIPTS.get(span.start));
    const [bad] = rows<{ t: string }>("SELECT hex(convertCharset(unhex('61ff62eda080'), 'UTF-8', 'UTF-8')) AS t");
    expect(bad!.t).to.equal(
      Buffer.from(Buffer.from('61ff62eda080', 'hex').toString('utf8')).toString('hex').toUpperCase(),
    );
  });
});

import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { ClickHouseSource } from '@bx/clickhouse';
import { buildEventsQuery } from '@bx/model-events';
import { PostgresDestination } from '@bx/destination-postgres';
import { TestClickHouse, testClickHouseSource } from '../helpers/clickhouse';
import { TestPostgres } from '../helpers/postgres';
import { runContext } from '../helpers/run-context';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

/** One source row's raw text fields and what PostgreSQL must hold for them (README: "What PostgreSQL refuses"). */
interface Case {
  name: string;
  event?: Buffer;
  distinct_id?: Buffer;
  elements_chain?: Buffer;
  properties?: Buffer;
  person_properties?: Buffer;
  /** SQL for created_at, instead of the row's time. */
  created_at?: string;
  expect: Partial<{
    created_at: string;
    event: string;
    distinct_id: string;
    elements_chain: string;
    properties: unknown;
    person_properties: unknown;
  }>;
}

const CASES: Case[] = [
  {
    name: '\\u0000 in a JSON string and in a key',
    properties: bytes('{"a":"x\\u0000y","k\\u0000":1}'),
    expect: { properties: { a: 'x\uFFFDy', 'k\uFFFD': 1 } },
  },
  {
    name: 'lone surrogate escapes; a valid pair is kept',
    properties: bytes('{"lone":"\\ud800","low":"\\uDC00x","pair":"\\ud83d\\ude00","no":"\\ud800xudc00"}'),
    expect: { properties: { lone: '\uFFFD', low: '\uFFFDx', pair: '😀', no: '\uFFFDxudc00' } },
  },
  {
    name: 'an escaped backslash before u0000 is text, not NUL',
    properties: bytes('{"a":"\\\\u0000","b":"\\\\ud800"}'),
    expect: { properties: { a: '\\u0000', b: '\\ud800' } },
  },
  {
    name: 'invalid UTF-8 inside JSON',
    properties: bytes('{"bad":"', [0xff, 0xfe], '","ok":"ü"}'),
    expect: { properties: { bad: '\uFFFD\uFFFD', ok: 'ü' } },
  },
  {
    name: 'a raw NUL byte in JSON text (not JSON any more): the text as a JSON string',
    person_properties: bytes('{"x":"a', [0], 'b"}'),
    expect: { person_properties: '{"x":"a\uFFFDb"}' },
  },
  {
    name: 'not JSON, empty, and JSON over several lines',
    properties: bytes('hello'),
    person_properties: bytes('{\n  "a": [1,\n 2]\n}'),
    expect: { properties: 'hello', person_properties: { a: [1, 2] } },
  },
  {
    name: "ClickHouse 18.16's zero DateTime (0000-00-00 00:00:00) is the Unix epoch",
    created_at: `toDateTime(0, 'UTC')`,
    expect: { created_at: '1970-01-01 00:00:00+00' },
  },
  {
    // JSONB numbers are numeric: 131,072 digits before the point, 16,383 after; beyond, PostgreSQL
    // answered 22003 (value overflows numeric format) and the interval failed on every retry.
    name: 'numbers beyond the range of numeric: their text as a JSON string',
    properties: bytes(
      `{"e":1e999999,"f":-1.5e-16383,"z":0e-99999,"long":${'9'.repeat(131_073)},"ok":[1e5,0.1e131072,1.5e-16382,0e99999]}`,
    ),
    person_properties: bytes('{"n":"\\u0000","e":[1E+131072]}'),
    expect: {
      properties: {
        e: '1e999999',
        f: '-1.5e-16383',
        z: '0e-99999',
        long: '9'.repeat(131_073),
        ok: [1e5, Infinity, 0, 0],
      },
      person_properties: { n: '\uFFFD', e: ['1E+131072'] },
    },
  },
  {
    name: 'a NUL byte in text',
    event: bytes('sign', [0], 'up'),
    distinct_id: bytes([0]),
    expect: { event: 'sign\uFFFDup', distinct_id: '\uFFFD' },
  },
  {
    name: 'invalid UTF-8 and an encoded lone surrogate in text',
    distinct_id: bytes('ab', [0xff], 'cd', [0xc3]),
    elements_chain: bytes('x', [0xed, 0xa0, 0x80], 'y'),
    expect: { distinct_id: 'ab\uFFFDcd\uFFFD', elements_chain: 'x\uFFFD\uFFFD\uFFFDy' },
  },
  {
    // JSONB's parser recurses: PostgreSQL refused it (54001 stack depth limit exceeded) and the
    // whole interval failed on every retry, for one event any visitor of a site can send.
    name: 'JSON nested deeper than 1,000 levels: the text as a JSON string',
    properties: bytes('['.repeat(100_000) + ']'.repeat(100_000)),
    person_properties: bytes('{"a":'.repeat(20_000) + '"\\u0000"' + '}'.repeat(20_000)),
    expect: {
      properties: '['.repeat(100_000) + ']'.repeat(100_000),
      person_properties: '{"a":'.repeat(20_000) + '"\\u0000"' + '}'.repeat(20_000),
    },
  },
  {
    name: 'JSON nested 1,000 levels deep stays JSON',
    properties: bytes('['.repeat(1000) + ']'.repeat(1000)),
    expect: { properties: nested(1000) },
  },
];

/** Arrays nested `depth` levels deep. */
function nested(depth: number): unknown {
  let value: unknown[] = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

describe('Postgres destination: values PostgreSQL refuses, from the real ClickHouse', function () {
  this.timeout(60_000);
  let pg: TestPostgres;
  let ch: TestClickHouse;
  let source: ClickHouseSource;
  const uuids = CASES.map(() => randomUUID());

  before(async () => {
    pg = await new TestPostgres().setup();
    ch = await new TestClickHouse().setup();
    // Plain rows around the hostile ones, so that batches (4 KiB here) hold both kinds.
    const plain = (n: number): Case => ({
      name: `plain ${n}`,
      properties: bytes(`{"n":${n},"s":"${'p'.repeat(300)}"}`),
      expect: {},
    });
    const rows = CASES.flatMap((c, i) => [plain(i), c, plain(i + 100)]);
    for (const [i, c] of rows.entries()) {
      const id = CASES.includes(c) ? uuids[CASES.indexOf(c)]! : randomUUID();
      const hex = (b: Buffer | undefined, fallback: string) =>
        `unhex('${(b ?? Buffer.from(fallback)).toString('hex')}')`;
      const at = `toDateTime('2024-01-01 10:${String(i % 60).padStart(2, '0')}:00', 'UTC')`;
      await ch.client.command({
        query: `INSERT INTO ${ch.database}.${ch.table}
          (uuid, event, properties, timestamp, team_id, distinct_id, elements_chain, created_at, person_id, person_properties, inserted_at)
          SELECT toUUID('${id}'), ${hex(c.event, '$pageview')}, ${hex(c.properties, '{}')}, ${at}, 1,
                 ${hex(c.distinct_id, 'user')}, ${hex(c.elements_chain, '')}, ${c.created_at ?? at}, toUUID('${randomUUID()}'),
                 ${hex(c.person_properties, '')}, toNullable(${at})`,
        // The deeply nested values are longer than a query may be by default (256 KiB).
        clickhouse_settings: { max_query_size: '16000000' },
      });
    }
    source = testClickHouseSource({ batchBytes: 4096 });
  });
  after(async () => {
    await source.close();
    await ch.drop();
    await pg.drop();
  });

  it('keeps every row, each refused value replaced as documented', async () => {
    const sql = buildEventsQuery({
      database: ch.database,
      table: ch.table,
      intervalColumn: 'inserted_at',
      teamId: 1,
      ...span,
    });
    const result = await new PostgresDestination(pg.config()).write(
      source.batches(sql, new AbortController().signal, { reuseBuffers: true }),
      runContext(span),
    );
    expect(result.records).to.equal(CASES.length * 3);
    const { rows } = await pg.admin.query(
      `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS"+00"') AS created_at FROM "${pg.schema}"."events"`,
    );
    expect(rows).to.have.length(CASES.length * 3);
    for (const [i, c] of CASES.entries()) {
      const row = rows.find((r) => r.uuid === uuids[i]);
      expect(row, c.name).to.not.equal(undefined);
      for (const [field, value] of Object.entries(c.expect)) {
        expect(row[field], `${c.name}: ${field}`).to.deep.equal(value);
      }
    }
    const plain = rows.filter((r) => !uuids.includes(r.uuid));
    expect(plain.every((r) => r.properties.s === 'p'.repeat(300) && r.event === '$pageview')).to.equal(true);
  });
});

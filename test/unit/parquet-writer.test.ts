import { type EventRow } from '@bx/core';
import { columnFormat, EventBatch, eventsFormat, Field, FieldBatch, FieldEncoding, dateTime64 } from '@bx/batch';
import { decodeRowBinary } from '@bx/clickhouse';
import {
  freeColumnBuffers,
  ParquetEncoder,
  ZSTD_PARQUET_PAGES,
  ZSTD_PARQUET_SPARSE_PAGES,
  type ParquetCompression,
  type ParquetEncoderOptions,
} from '@bx/destination-s3';
import { zstdFrames, type LentFrame } from '@bx/zstd';
import type * as Native from '@bx/native';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { parquetChunks, queryParquet, readParquet } from '../helpers/duckdb';
import { encodeRowBinary, type WireEncoding, type WireRow } from '../helpers/row-binary';

/**
 * The Parquet writer (packages/destinations/s3/src/parquet) against two
 * independent readers: DuckDB reads every value, row groups and statistics;
 * hyparquet (a JS reader) reads the uncompressed and snappy files.
 */

const micros = (t: string | null) => (t === null ? null : String(Date.parse(t.replace(' ', 'T') + 'Z') * 1000));

function row(i: number, overrides: Partial<EventRow> = {}): EventRow {
  const t = new Date(Date.UTC(2024, 0, 1, 10) + i * 10).toISOString().replace('T', ' ').replace('Z', '');
  return {
    uuid: randomUUID(),
    event: i % 3 ? '$pageview' : `it's "quoted" 🎉\n${i % 11}`,
    properties: JSON.stringify({ i, url: `https://example.com/${i}`, s: 'ü'.repeat(i % 40) }),
    distinct_id: `user-${i % 97}`,
    team_id: '1',
    timestamp: t,
    created_at: t,
    inserted_at: i < 1500 || i % 7 === 0 ? null : t,
    elements_chain: i % 5 ? '' : 'a:nth-child="1"',
    person_id: randomUUID(),
    person_properties: i % 4 ? JSON.stringify({ email: `p${i}@x.io` }) : '',
    ...overrides,
  };
}

/**
 * Encodes `batches` into one file, gathered from the sink. The writer reuses
 * a chunk's memory once the sink's promise settles, so the sink copies it,
 * after a turn of the event loop: bytes changed meanwhile would show.
 */
async function encode(
  compression: ParquetCompression,
  batches: EventBatch[],
  options: ParquetEncoderOptions = {},
): Promise<{ data: Buffer; chunks: number[] }> {
  const chunks: Buffer[] = [];
  const encoder = await ParquetEncoder.create(
    compression,
    async (c) => {
      await new Promise((r) => setImmediate(r));
      chunks.push(Buffer.from(c));
    },
    undefined,
    options,
  );
  for (const b of batches) await encoder.write(b);
  await encoder.finish();
  const data = Buffer.concat(chunks);
  expect(encoder.bytes, 'bytes after finish').to.equal(data.length);
  return { data, chunks: chunks.map((c) => c.length) };
}

const inBatches = (rows: EventRow[], size: number) =>
  Array.from({ length: Math.ceil(rows.length / size) }, (_, k) =>
    EventBatch.fromRows(rows.slice(k * size, (k + 1) * size)),
  );

/** What a reader must see for a row whose JSON columns are valid, minified JSON or empty. */
function plain(r: EventRow): Record<string, unknown> {
  const json = (t: string) => (t === '' || t === 'null' ? null : t);
  return {
    uuid: r.uuid,
    event: r.event,
    properties: json(r.properties),
    distinct_id: r.distinct_id,
    team_id: String(r.team_id),
    timestamp: micros(r.timestamp),
    created_at: micros(r.created_at),
    inserted_at: micros(r.inserted_at),
    elements_chain: r.elements_chain,
    person_id: r.person_id,
    person_properties: json(r.person_properties),
  };
}

const byUuid = (a: Record<string, unknown>, b: Record<string, unknown>) => String(a.uuid).localeCompare(String(b.uuid));

describe('Parquet writer: files read back by DuckDB and hyparquet', function () {
  this.timeout(120_000);

  it('writes several row groups and pages, nulls as RLE levels, to the sink in pieces of about 1 MiB', async () => {
    // Uncompressed: row groups end at 4 MiB of file, pages at 1 MiB of values.
    const rows = Array.from({ length: 70_000 }, (_, i) => row(i));
    const { data, chunks } = await encode(null, inBatches(rows, 1900));
    const meta = await parquetChunks(data);
    const groups = new Set(meta.map((m) => m.row_group_id));
    expect(groups.size, 'row groups').to.be.greaterThan(2);
    // Pages of at most 1 MiB go out in pieces of about 1 MiB: never a whole 4 MiB row group at once.
    expect(chunks.length).to.be.greaterThan(groups.size + 1);
    expect(Math.max(...chunks)).to.be.below(2.1 * 1024 * 1024);
    const { rows: read } = await readParquet(data);
    expect(read.length).to.equal(rows.length);
    expect(read.sort(byUuid)).to.deep.equal(rows.map(plain).sort(byUuid));
  });

  for (const compression of ['zstd', 'snappy', 'gzip', 'brotli'] as const) {
    it(`compresses pages with ${compression}`, async () => {
      const rows = Array.from({ length: 5000 }, (_, i) => row(i));
      const { data } = await encode(compression, inBatches(rows, 700));
      const meta = await parquetChunks(data);
      expect(new Set(meta.map((m) => m.compression))).to.deep.equal(new Set([compression.toUpperCase()]));
      expect((await readParquet(data)).rows.sort(byUuid)).to.deep.equal(rows.map(plain).sort(byUuid));
    });
  }

  it('writes min/max statistics of team_id and timestamps as signed 64-bit, and null counts', async () => {
    const rows = [
      row(0, { team_id: '4611686018427387904' }), // 2^62
      row(1, { team_id: '-5', timestamp: '1969-12-31 23:59:59.500000' }),
      row(2, { team_id: '7', timestamp: '2200-12-31 23:59:59.999999' }),
    ];
    const { data } = await encode('zstd', [EventBatch.fromRows(rows)]);
    const meta = await parquetChunks(data);
    const col = (name: string) => meta.find((m) => m.path_in_schema === name)!;
    expect(col('team_id')).to.include({ stats_min_value: '-5', stats_max_value: '4611686018427387904' });
    expect(col('timestamp')).to.include({
      stats_min_value: '1969-12-31 23:59:59.5+00',
      stats_max_value: '2200-12-31 23:59:59.999999+00',
    });
    expect(String(col('inserted_at').stats_null_count)).to.equal('3');
    expect(col('inserted_at').stats_min_value).to.equal(null);
    const { rows: read } = await readParquet(data);
    expect(read.map((r) => [r.team_id, r.timestamp])).to.deep.equal([
      ['4611686018427387904', micros(rows[0]!.timestamp)],
      ['-5', '-500000'],
      // Microsecond-exact beyond Date's milliseconds.
      ['7', '7289654399999999'],
    ]);
  });

  it('writes hostile values as records do: invalid UTF-8 replaced, invalid JSON as a JSON string, a value larger than a page', async () => {
    const huge = JSON.stringify({ blob: 'x'.repeat(3 * 1024 * 1024) });
    const rows = [
      row(0, { event: 'éx' }),
      row(1, { properties: '{not json', person_properties: 'null' }),
      row(2, { properties: '{"a":\n1}' }),
      row(3, { properties: huge }),
      row(4, { distinct_id: '\u0000\u001f\u2028"\\', elements_chain: '' }),
    ];
    const batch = EventBatch.fromRows(rows);
    // é is C3 A9: A9 → 28 makes the first row's event invalid UTF-8.
    batch.bytes[batch.start(0, Field.event) + 1] = 0x28;
    const { data } = await encode('zstd', [batch]);
    const { rows: read } = await readParquet(data);
    const expected = rows.map(plain);
    expected[0]!.event = '\ufffd(x';
    expected[1]!.properties = JSON.stringify('{not json');
    expected[1]!.person_properties = null;
    expected[2]!.properties = '{"a":1}';
    expect(read).to.deep.equal(expected);
  });

  it('writes a lone surrogate escape in a JSON column as \\ufffd (DuckDB refused the whole file), a pair as it is', async () => {
    const lone = '{"hi":"a\\ud800b","lo":"\\uDC00","\\ud800key":1,"pair":"\\ud83d\\ude00","esc":"\\\\ud800"}';
    const fixed = '{"hi":"a\\ufffdb","lo":"\\ufffd","\\ufffdkey":1,"pair":"\\ud83d\\ude00","esc":"\\\\ud800"}';
    const rows = [row(0, { properties: lone }), row(1, { person_properties: `[${lone}]` }), row(2)];
    const expected = rows.map(plain);
    expected[0]!.properties = fixed;
    expected[1]!.person_properties = `[${fixed}]`;
    for (const reference of [false, true]) {
      const { data } = await encode('zstd', [EventBatch.fromRows(rows), ...inBatches([row(3)], 1)], { reference });
      const { rows: read } = await readParquet(data);
      expect(read.slice(0, 3), `reference writer: ${reference}`).to.deep.equal(expected);
    }
    // Another model's batch (persons: a FieldBatch) goes through the same rule.
    const columns = [
      { name: 'distinct_id', type: 'string' },
      { name: 'properties', type: 'json' },
    ] as const;
    const persons = FieldBatch.fromValues(columnFormat(columns), [
      { distinct_id: 'a', properties: lone },
      { distinct_id: 'b', properties: '{"ok":true}' },
    ]);
    const chunks: Buffer[] = [];
    const encoder = await ParquetEncoder.create('zstd', async (c) => void chunks.push(Buffer.from(c)), columns);
    await encoder.write(persons);
    await encoder.finish();
    const read = await queryParquet(Buffer.concat(chunks), (f) => `SELECT properties::VARCHAR AS p FROM '${f}'`);
    expect(read.rows.map((r) => r.p)).to.deep.equal([fixed, '{"ok":true}']);
  });

  it('reads back with hyparquet too (uncompressed and snappy), nulls in place', async () => {
    const { parquetReadObjects } = await import('hyparquet');
    const rows = Array.from({ length: 3000 }, (_, i) => row(i));
    for (const compression of [null, 'snappy'] as const) {
      const { data } = await encode(compression, inBatches(rows, 1000));
      const file = data.buffer.slice(data.byteOffset, data.byteOffset + data.length) as ArrayBuffer;
      const read = (await parquetReadObjects({ file, utf8: true })) as Array<Record<string, unknown>>;
      expect(read.length).to.equal(rows.length);
      read.forEach((r, i) => {
        const src = rows[i]!;
        expect([r.uuid, r.event, r.distinct_id, r.team_id, r.elements_chain]).to.deep.equal([
          src.uuid,
          src.event,
          src.distinct_id,
          1n,
          src.elements_chain,
        ]);
        expect(r.inserted_at === null, `row ${i} inserted_at`).to.equal(src.inserted_at === null);
        expect(r.person_properties === null, `row ${i} person_properties`).to.equal(src.person_properties === '');
      });
    }
  });

  it('writes each column of a batch in C, the same file as the TypeScript writer value by value', async () => {
    const huge = JSON.stringify({ blob: 'y'.repeat(1300 * 1024) });
    const odd = [
      row(0, { timestamp: '2024-01-01 10:00:00.5', created_at: '2024-01-01 10:00:00.1234567' }),
      row(1, { timestamp: '2024-01-01T10:00:00+02:00', inserted_at: '2024-01-01 10:00:00.000001' }),
      row(2, { properties: '{not json', person_properties: 'null' }),
      row(3, { properties: '{"a":\n1}', person_properties: ' {"b": 2} ' }),
      row(4, { properties: huge, distinct_id: '\u0000\u001f\u2028"\\' }),
      row(5, { properties: '', team_id: '-9223372036854775808', timestamp: '1970-01-01 00:00:00' }),
      row(6, { team_id: '9223372036854775807', timestamp: '2255-06-05 23:47:34.740991' }),
    ];
    const plainRows = Array.from({ length: 60_000 }, (_, i) => row(i + 7));
    const batches = [EventBatch.fromRows(odd), ...inBatches(plainRows, 2500)];
    // A batch whose text is not UTF-8 everywhere: its text columns go through TypeScript.
    const broken = EventBatch.fromRows([row(99, { event: 'éx' }), row(100)]);
    broken.bytes[broken.start(0, Field.event) + 1] = 0x28;
    batches.push(broken);
    // The addon's own exports, which the writer reads its functions from at each call.
    const addon = createRequire(__filename)('@bx/native') as { parquetColumn: typeof Native.parquetColumn };
    const parquetColumn = addon.parquetColumn;
    let calls = 0;
    addon.parquetColumn = (...args) => (calls++, parquetColumn(...args));
    try {
      for (const compression of [null, 'zstd'] as const) {
        calls = 0;
        const reference = await encode(compression, batches, { reference: true });
        expect(calls, 'the reference writer does not call C').to.equal(0);
        const sut = await encode(compression, batches);
        expect(calls).to.be.greaterThan(11 * batches.length);
        expect(sut.data.equals(reference.data), `${compression ?? 'uncompressed'}: the same bytes`).to.equal(true);
      }
    } finally {
      addon.parquetColumn = parquetColumn;
    }
    const { rows: read } = await readParquet((await encode(null, batches.slice(0, 1))).data);
    expect([read[0]!.timestamp, read[0]!.created_at]).to.deep.equal(['1704103200500000', '1704103200123456']);
    expect([read[1]!.timestamp, read[1]!.inserted_at]).to.deep.equal(['1704096000000000', '1704103200000001']);
    expect([read[6]!.team_id, read[6]!.timestamp]).to.deep.equal(['9223372036854775807', '9007199254740991']);
  });

  it('hands its pages and column chunks to the next file once written, whose bytes are still its own', async () => {
    const batches = inBatches(
      Array.from({ length: 30_000 }, (_, i) => row(i)),
      2500,
    );
    const first = await encode('zstd', batches);
    const free = freeColumnBuffers();
    expect(free.pages).to.be.at.least(11);
    expect(free.chunks).to.be.at.least(11);
    // A file of other rows writes over them: it takes a page per column at once, and chunks as it needs them.
    const encoder = await ParquetEncoder.create('zstd', async () => undefined);
    expect(freeColumnBuffers().pages).to.equal(free.pages - 11);
    for (const b of inBatches(
      Array.from({ length: 5_000 }, (_, i) => row(i + 99_999)),
      1000,
    ))
      await encoder.write(b);
    await encoder.finish();
    expect(freeColumnBuffers()).to.deep.equal(free);
    expect((await encode('zstd', batches)).data.equals(first.data)).to.equal(true);
  });

  it('writes binary UUIDs and timestamps (DateTime, DateTime64) as their text and microseconds: the same file', async () => {
    const rows = [
      ...Array.from({ length: 5000 }, (_, i) => row(i)),
      row(5000, { timestamp: '1969-12-31 23:59:59.5', created_at: '1970-01-01 00:00:00' }),
    ];
    const wire = (r: EventRow): WireRow => ({ ...r, team_id: BigInt(r.team_id) });
    const layouts: Array<[WireEncoding, number]> = [
      [{ uuid: 'binary', time: 6 }, dateTime64(6)],
      [{ uuid: 'binary', time: 9 }, dateTime64(9)],
      [{ uuid: 'binary', time: 3 }, dateTime64(3)],
    ];
    const text = await encode('zstd', inBatches(rows, 1500));
    for (const [encoding, time] of layouts) {
      const layout = new Uint8Array(11);
      layout[Field.uuid] = layout[Field.person_id] = FieldEncoding.UUID;
      layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = time;
      const binary = Array.from({ length: Math.ceil(rows.length / 1500) }, (_, k) =>
        decodeRowBinary(
          encodeRowBinary(rows.slice(k * 1500, (k + 1) * 1500).map(wire), encoding),
          eventsFormat(layout),
        ),
      );
      const sut = await encode('zstd', binary);
      expect(sut.data.equals(text.data), JSON.stringify(encoding)).to.equal(true);
      const reference = await encode('zstd', binary, { reference: true });
      expect(reference.data.equals(text.data), `${JSON.stringify(encoding)}, reference`).to.equal(true);
    }
    // A DateTime (whole seconds): the file of the same rows without their fractions.
    const whole = rows.map((r) => ({
      ...r,
      timestamp: r.timestamp.slice(0, 19),
      created_at: r.created_at.slice(0, 19),
      inserted_at: r.inserted_at?.slice(0, 19) ?? null,
    }));
    const layout = new Uint8Array(11);
    layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = FieldEncoding.DATE_TIME;
    const seconds = [
      decodeRowBinary(encodeRowBinary(whole.slice(0, 5000).map(wire), { time: 'datetime' }), eventsFormat(layout)),
    ];
    const expected = await encode('zstd', [EventBatch.fromRows(whole.slice(0, 5000))]);
    expect((await encode('zstd', seconds)).data.equals(expected.data)).to.equal(true);
  });

  it('copies each zstd page straight from its shared slot and releases the slot', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => row(i));
    const { data } = await encode('zstd', inBatches(rows, 2000));
    expect((await readParquet(data)).rows.length).to.equal(rows.length);
    // Every page slot is free again: eight pages in a row are each lent one.
    const compress = zstdFrames(ZSTD_PARQUET_PAGES);
    const lent = [];
    for (let i = 0; i < 8; i++) lent.push(await compress(Buffer.from(`page ${i} `.repeat(10_000))));
    expect(
      lent.every((f) => !(f instanceof Uint8Array)),
      'all eight lent from slots',
    ).to.equal(true);
    for (const f of lent) (f as LentFrame).release();
  });

  it('compresses the UUID columns with the sparse pages settings, the others with the pages settings', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => row(i));
    const { data } = await encode('zstd', [EventBatch.fromRows(rows)]);
    /** A column's only page (20,000 rows, under 1 MiB): PLAIN, each value's 4-byte length and bytes. */
    const page = (values: string[]) =>
      Buffer.concat(
        values.flatMap((v) => {
          const length = Buffer.alloc(4);
          length.writeUInt32LE(Buffer.byteLength(v));
          return [length, Buffer.from(v)];
        }),
      );
    const frame = async (params: typeof ZSTD_PARQUET_PAGES, raw: Buffer) => {
      const f = await zstdFrames(params)(raw);
      if (f instanceof Uint8Array) return Buffer.from(f);
      const bytes = Buffer.from(f.bytes);
      f.release();
      return bytes;
    };
    for (const column of ['uuid', 'person_id'] as const) {
      const raw = page(rows.map((r) => r[column]));
      const sparse = await frame(ZSTD_PARQUET_SPARSE_PAGES, raw);
      const dense = await frame(ZSTD_PARQUET_PAGES, raw);
      expect(sparse.equals(dense), 'the two settings make different frames').to.equal(false);
      expect(data.indexOf(sparse), `${column}: the sparse frame`).to.be.greaterThan(0);
      expect(data.indexOf(dense), `${column}: not the pages frame`).to.equal(-1);
    }
    const events = await frame(ZSTD_PARQUET_PAGES, page(rows.map((r) => r.distinct_id)));
    expect(data.indexOf(events), 'distinct_id: the pages frame').to.be.greaterThan(0);
  });

  it('writes a valid file with no rows', async () => {
    const { data } = await encode('zstd', []);
    const { rows, schema } = await readParquet(data);
    expect(rows).to.deep.equal([]);
    expect(Object.keys(schema)).to.have.length(11);
  });
});

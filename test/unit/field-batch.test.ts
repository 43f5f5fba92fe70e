import { expect } from 'chai';
import { columnFormat, FieldBatch, type FieldValue } from '@bx/batch';
import type { RecordColumn } from '@bx/core';
import { seededRandom } from '../helpers/seeded-random';

/** Every value type, nullable where the wire allows it. */
const COLUMNS: readonly RecordColumn[] = [
  { name: 'id', type: 'uuid' },
  { name: 'name', type: 'string' },
  { name: 'maybe', type: 'string', nullable: true },
  { name: 'props', type: 'json' },
  { name: 'n', type: 'int64' },
  { name: 'u', type: 'uint64' },
  { name: 'flag', type: 'boolean' },
  { name: 'at', type: 'timestamp' },
  { name: 'at_or_null', type: 'timestamp', nullable: true },
];
const format = columnFormat(COLUMNS);

const row = (overrides: Record<string, FieldValue> = {}): Record<string, FieldValue> => ({
  id: '0189a1d4-0000-7000-8000-000000000001',
  name: 'plain',
  maybe: null,
  props: '{"a":1,"b":[true,null]}',
  n: -42n,
  u: 7n,
  flag: true,
  at: '2024-03-01 10:00:00',
  at_or_null: '2024-03-01 10:00:00.123456',
  ...overrides,
});

/** The records, one per line, through the reference (TypeScript, value by value). */
const reference = (sut: FieldBatch) => Array.from({ length: sut.count }, (_, r) => sut.line(r)).join('');

describe('FieldBatch: records of any model from its column types', () => {
  it('writes each type as the contract says: strings, JSON objects, exact integers, booleans, ISO timestamps, nulls', () => {
    const sut = FieldBatch.fromValues(format, [
      row(),
      row({
        maybe: 'x',
        u: 18_446_744_073_709_551_615n,
        n: -9_223_372_036_854_775_808n,
        flag: false,
        at_or_null: null,
      }),
    ]) as FieldBatch;
    const lines = sut.records().toString().split('\n');
    expect(lines.pop()).to.equal('');
    expect(lines[0]).to.equal(
      '{"id":"0189a1d4-0000-7000-8000-000000000001","name":"plain","maybe":null,"props":{"a":1,"b":[true,null]},' +
        '"n":-42,"u":7,"flag":true,"at":"2024-03-01T10:00:00+00:00","at_or_null":"2024-03-01T10:00:00.123456+00:00"}',
    );
    expect(lines[1]).to.contain('"maybe":"x"');
    expect(lines[1]).to.contain('"n":-9223372036854775808,"u":18446744073709551615,"flag":false');
    expect(lines[1]).to.contain('"at_or_null":null');
    expect(sut.exactRows).to.equal(0);
  });

  it('writes in C the same bytes as the reference, hostile values and all; only those rows take the exact path', () => {
    const hostile: Array<Record<string, FieldValue>> = [
      row({ name: 'quote " backslash \\ newline \n tab \t nul \0 \u2028 日本語 🎉' }),
      row({ name: Buffer.from([0x61, 0xff, 0xfe, 0x62]) }),
      row({ props: '{"multi":\n"line"}' }),
      row({ props: 'not json' }),
      row({ props: '' }),
      row({ props: 'null' }),
      row({ maybe: Buffer.from([0xc3]) }),
    ];
    const sut = FieldBatch.fromValues(format, [row(), ...hostile, row()]) as FieldBatch;
    const records = sut.records().toString();
    expect(records).to.equal(reference(sut));
    // Invalid UTF-8 (twice) and JSON to normalise (twice) take the exact path; empty JSON is null in C too.
    expect(sut.exactRows).to.equal(4);
    const parsed = records
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed[1]!.name).to.equal('quote " backslash \\ newline \n tab \t nul \0 \u2028 日本語 🎉');
    expect(parsed[2]!.name).to.equal('a\ufffd\ufffdb');
    expect(parsed[3]!.props).to.deep.equal({ multi: 'line' });
    expect(parsed[4]!.props).to.equal('not json');
    expect(parsed[5]!.props).to.equal(null);
  });

  it('equals the reference on random bytes', () => {
    const random = seededRandom(16);
    const text = () =>
      Buffer.from(
        Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * (random() < 0.8 ? 128 : 256))),
      );
    const rows = Array.from({ length: 2000 }, () =>
      row({
        name: text(),
        maybe: random() < 0.3 ? null : text(),
        props: random() < 0.5 ? `{"k":${JSON.stringify(text().toString())}}` : text(),
      }),
    );
    const sut = FieldBatch.fromValues(format, rows) as FieldBatch;
    expect(sut.records().toString()).to.equal(reference(sut));
  });

  it('writes into a caller buffer when the records fit, else answers -1', () => {
    const sut = FieldBatch.fromValues(
      format,
      Array.from({ length: 50 }, () => row()),
    );
    const records = sut.records();
    const target = new Uint8Array(new SharedArrayBuffer(records.length + 64 * 1024));
    const { next, bytes } = sut.recordsInto(target);
    expect(next).to.equal(sut.count);
    expect(Buffer.from(target.subarray(0, bytes)).equals(records)).to.equal(true);
    expect(sut.recordsInto(new Uint8Array(100))).to.deep.equal({ next: 0, bytes: 0 });
    // As many rows as surely fit, then the rest from there.
    const short = new Uint8Array(Math.floor(records.length / 2));
    const some = sut.recordsInto(short);
    expect(some.next).to.be.greaterThan(0).and.lessThan(sut.count);
    expect(Buffer.concat([short.subarray(0, some.bytes), sut.records(some.next)]).equals(records)).to.equal(true);
  });
});

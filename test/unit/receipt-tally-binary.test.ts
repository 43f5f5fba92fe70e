import { expect } from 'chai';
import { decodeRowBinary } from '@bx/clickhouse';
import { sipHash64 } from '@bx/core';
import { dateTime64, eventsFormat, Field, FieldEncoding, ReceiptTally } from '@bx/batch';
import { randomUUID } from 'node:crypto';
import { encodeRowBinary, type WireEncoding, type WireRow } from '../helpers/row-binary';

/** Rows whose inserted_at do not sort as their bytes do once binary (little-endian): 255 s, 256 s, 2 days. */
const TIMES = ['1970-01-01 00:04:15', '1970-01-01 00:04:16', '1970-01-03 00:00:00.123456', null];

function rows(n: number): WireRow[] {
  return Array.from({ length: n }, (_, i) => ({
    uuid: randomUUID(),
    event: 'e',
    properties: '{}',
    distinct_id: `d${i}`,
    team_id: 1n,
    timestamp: '2024-01-01 00:00:00',
    created_at: '2024-01-01 00:00:00',
    inserted_at: TIMES[i % TIMES.length]!,
    elements_chain: '',
    person_id: randomUUID(),
    person_properties: '{}',
  }));
}

describe('receipt tally over UUIDs and timestamps read binary (the events layouts)', () => {
  const cases: Array<[WireEncoding, number, string | null, string | null]> = [
    [
      { uuid: 'binary', time: 'datetime' },
      FieldEncoding.DATE_TIME,
      '1970-01-01T00:04:15+00:00',
      '1970-01-03T00:00:00+00:00',
    ],
    [
      { uuid: 'binary', time: 6 },
      dateTime64(6),
      '1970-01-01T00:04:15.000000+00:00',
      '1970-01-03T00:00:00.123456+00:00',
    ],
    [{ uuid: 'binary' }, FieldEncoding.TEXT, '1970-01-01T00:04:15+00:00', '1970-01-03T00:00:00.123456+00:00'],
  ];

  for (const [encoding, time, min, max] of cases) {
    it(`hashes each UUID's lower-case text and bounds inserted_at by instant: ${JSON.stringify(encoding)}`, () => {
      const wire = rows(203);
      const layout = new Uint8Array(11);
      layout[Field.uuid] = layout[Field.person_id] = FieldEncoding.UUID;
      layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = time;
      const sut = new ReceiptTally();
      sut.add(decodeRowBinary(encodeRowBinary(wire.slice(0, 100), encoding), eventsFormat(layout)));
      sut.add(decodeRowBinary(encodeRowBinary(wire.slice(100), encoding), eventsFormat(layout)));
      // What ClickHouse's sum(sipHash64(toString(uuid))) answers: the hash of the 36 lower-case characters.
      const expected = wire.reduce((acc, r) => BigInt.asUintN(64, acc + sipHash64(r.uuid.toLowerCase())), 0n);
      expect(sut.receipt([], 1)).to.deep.equal({
        records: 203,
        checksum: expected.toString(),
        min_inserted_at: min,
        max_inserted_at: max,
        files: [],
        version: 1,
      });
    });
  }

  it('tallies the binary rows as it does the same rows read as text', () => {
    const wire = rows(50);
    const layout = new Uint8Array(11);
    layout[Field.uuid] = layout[Field.person_id] = FieldEncoding.UUID;
    layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = FieldEncoding.DATE_TIME;
    const binary = new ReceiptTally();
    binary.add(decodeRowBinary(encodeRowBinary(wire, { uuid: 'binary', time: 'datetime' }), eventsFormat(layout)));
    const text = new ReceiptTally();
    const whole = wire.map((r) => ({ ...r, inserted_at: r.inserted_at && r.inserted_at.slice(0, 19) }));
    text.add(decodeRowBinary(encodeRowBinary(whole)));
    expect(binary.receipt(['f'], 2)).to.deep.equal(text.receipt(['f'], 2));
  });
});

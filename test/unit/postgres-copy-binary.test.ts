import { expect } from 'chai';
import { decodeRowBinary } from '@bx/clickhouse';
import { eventsFormat, Field, FieldEncoding } from '@bx/batch';
import { BinaryCopyEncoder, type ColumnEncoding } from '@bx/destination-postgres';
import { randomUUID } from 'node:crypto';
import { encodeRowBinary, type WireRow } from '../helpers/row-binary';
import { seededRandom } from '../helpers/seeded-random';

/** The events columns as a table of the contract's types would take them (see columnPlan). */
const ENCODINGS: ColumnEncoding[] = [
  'text',
  'text',
  'jsonb',
  'text',
  'int8',
  'timestamp',
  'timestamp',
  'timestamp',
  'text',
  'text',
  'jsonb',
];

describe('Postgres binary COPY rows of UUIDs and timestamps read binary', () => {
  it('are the bytes of the same rows read as text, short rows and empty JSON included', () => {
    // Short rows: a binary UUID or DateTime takes more room as COPY values than as RowBinary.
    const rows: WireRow[] = Array.from({ length: 3000 }, (_, i) => ({
      uuid: randomUUID(),
      event: '',
      properties: '',
      distinct_id: '',
      team_id: BigInt(i),
      timestamp: '2024-01-01 00:00:01',
      created_at: '2024-01-01 00:00:02',
      inserted_at: i % 3 === 0 ? null : '2024-01-01 00:00:03',
      elements_chain: '',
      person_id: randomUUID(),
      person_properties: '',
    }));
    const layout = new Uint8Array(11);
    layout[Field.uuid] = layout[Field.person_id] = FieldEncoding.UUID;
    layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = FieldEncoding.DATE_TIME;
    const binary = decodeRowBinary(encodeRowBinary(rows, { uuid: 'binary', time: 'datetime' }), eventsFormat(layout));
    const text = decodeRowBinary(encodeRowBinary(rows));
    const sut = new BinaryCopyEncoder(ENCODINGS);
    expect(sut.encode(binary).equals(new BinaryCopyEncoder(ENCODINGS).encode(text))).to.equal(true);
  });

  it('are the bytes of the same rows read as text, whatever the batch size (the output grows as it must)', () => {
    const random = seededRandom(5);
    const layout = new Uint8Array(11);
    layout[Field.uuid] = layout[Field.person_id] = FieldEncoding.UUID;
    layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = FieldEncoding.DATE_TIME;
    const sut = new BinaryCopyEncoder(ENCODINGS);
    const reference = new BinaryCopyEncoder(ENCODINGS);
    for (let batch = 0; batch < 60; batch++) {
      const rows: WireRow[] = Array.from({ length: 1 + Math.floor(random() * 400) }, (_, i) => ({
        uuid: randomUUID(),
        event: '$pageview',
        properties: JSON.stringify({ n: i, url: 'x'.repeat(Math.floor(random() * 40)) }),
        distinct_id: `user-${i % 17}`,
        team_id: 1n,
        timestamp: '2024-01-01 00:00:01',
        created_at: '2024-01-01 00:00:02',
        inserted_at: '2024-01-01 00:00:03',
        elements_chain: '',
        person_id: randomUUID(),
        person_properties: JSON.stringify({ email: `u${'x'.repeat(Math.floor(random() * 60))}@example.com` }),
      }));
      const binary = decodeRowBinary(encodeRowBinary(rows, { uuid: 'binary', time: 'datetime' }), eventsFormat(layout));
      const text = decodeRowBinary(encodeRowBinary(rows));
      expect(sut.encode(binary).equals(reference.encode(text)), `batch ${batch}`).to.equal(true);
    }
  });
});

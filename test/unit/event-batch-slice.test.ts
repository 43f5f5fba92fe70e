import { expect } from 'chai';
import { decodeRowBinary } from '@bx/clickhouse';
import { EventBatch, eventsFormat, Field, FieldEncoding } from '@bx/batch';
import { toRecordLine } from '@bx/core';
import { asRows, chTime, makeEvent } from '../helpers/events';
import { encodeRowBinary } from '../helpers/row-binary';

describe('EventBatch.slice', () => {
  const rows = asRows(
    Array.from({ length: 7 }, (_, i) =>
      makeEvent({ inserted_at: i % 3 === 0 ? null : chTime('2024-01-01T10:20:00Z'), event: `e${i}` }),
    ),
  );
  const batch = EventBatch.fromRows(rows);

  it('is rows [from, to) with their records, nulls included, on the same memory', () => {
    for (const [from, to] of [
      [0, 3],
      [3, 7],
      [6, 7],
      [2, 5],
    ] as const) {
      const sut = batch.slice(from, to);
      expect(sut.count).to.equal(to - from);
      expect(sut.rows()).to.deep.equal(rows.slice(from, to));
      expect(sut.records().toString()).to.equal(
        rows
          .slice(from, to)
          .map((r) => toRecordLine(r) + '\n')
          .join(''),
      );
      expect(sut.bytes.buffer).to.equal(batch.bytes.buffer);
    }
  });

  it('keeps how the fields are encoded: binary UUIDs and timestamps stay binary', () => {
    const layout = new Uint8Array(11);
    layout[Field.uuid] = layout[Field.person_id] = FieldEncoding.UUID;
    layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = FieldEncoding.DATE_TIME;
    const binary = decodeRowBinary(
      encodeRowBinary(
        rows.map((r) => ({ ...r, team_id: BigInt(r.team_id) })),
        { uuid: 'binary', time: 'datetime' },
      ),
      eventsFormat(layout),
    );
    const sut = binary.slice(2, 6);
    expect(sut.layout).to.equal(binary.layout);
    expect(sut.rows()).to.deep.equal(binary.rows().slice(2, 6));
    expect(sut.records().toString()).to.equal(
      binary
        .records()
        .toString()
        .split('\n')
        .slice(2, 6)
        .map((line) => line + '\n')
        .join(''),
    );
  });

  it('leaves the batch as it was', () => {
    batch.slice(2, 4);
    expect(batch.rows()).to.deep.equal(rows);
  });
});

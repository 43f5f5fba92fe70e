import { expect } from 'chai';
import { EventBatch } from '@bx/batch';
import { toRecordLine } from '@bx/core';
import { asRows, chTime, makeEvent } from '../helpers/events';

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

  it('leaves the batch as it was', () => {
    batch.slice(2, 4);
    expect(batch.rows()).to.deep.equal(rows);
  });
});

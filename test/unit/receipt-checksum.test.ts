import { expect } from 'chai';
import { ReadBackTally, ReceiptChecksum, sipHash64 } from '@bx/core';
import { EventBatch, ReceiptTally, tallied } from '@bx/batch';
import { randomUUID } from 'node:crypto';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { seededRandom } from '../helpers/seeded-random';

/** sipHash64 values ClickHouse 18.16 answered (`SELECT sipHash64('...')`). */
const CLICKHOUSE = [
  ['', 2202906307356721367n],
  ['abc', 4596069200710135518n],
  ['0123456789abcdefX', 1366106115339715570n],
  ['日本語 🎉', 15832283405400612958n],
] as const;

describe('receipt checksum: ClickHouse sipHash64 summed modulo 2^64', () => {
  it('the TypeScript hash gives what ClickHouse gives', () => {
    for (const [text, hash] of CLICKHOUSE) expect(sipHash64(text), text).to.equal(hash);
  });

  it('the C tally (worker) and the TypeScript checksum (verify) agree on every length from 0 to 80 bytes', () => {
    const random = seededRandom(17);
    const keys = Array.from({ length: 400 }, (_, i) => {
      const chars = Array.from({ length: i % 81 }, () => String.fromCharCode(32 + Math.floor(random() * 95)));
      return chars.join('');
    });
    // One row per key, the key in the uuid field (the tally does not look at its shape).
    const rows = keys.map((uuid) => ({
      ...asRows([makeEvent({ inserted_at: chTime('2024-01-01T00:00:00Z') })])[0]!,
      uuid,
    }));
    const tally = new ReceiptTally();
    tally.add(EventBatch.fromRows(rows));
    const sum = new ReceiptChecksum();
    keys.forEach((key) => sum.add(key));
    expect(tally.receipt([], 1).checksum).to.equal(sum.toString());
    // Each key alone, too: a carry between the halves of the TypeScript sum would hide in a total.
    for (const key of keys.slice(0, 80)) {
      const one = new ReceiptTally();
      one.add(EventBatch.fromRows([{ ...rows[0]!, uuid: key }]));
      expect(one.receipt([], 1).checksum, JSON.stringify(key)).to.equal(sipHash64(key).toString());
    }
  });

  it('wraps modulo 2^64 as ClickHouse sum(UInt64) does', () => {
    const uuids = Array.from({ length: 1000 }, () => randomUUID());
    const expected = uuids.reduce((acc, u) => BigInt.asUintN(64, acc + sipHash64(u)), 0n);
    const sut = new ReceiptChecksum();
    uuids.forEach((u) => sut.add(u));
    expect(sut.toString()).to.equal(expected.toString());
    expect(sut.count).to.equal(1000);
    const half = new ReceiptChecksum();
    uuids.slice(0, 500).forEach((u) => half.add(u));
    const rest = new ReceiptChecksum();
    uuids.slice(500).forEach((u) => rest.add(u));
    expect(half.merge(rest).toString()).to.equal(expected.toString());
  });

  it('a tally counts rows over batches whose memory is reused, with the least and greatest inserted_at', async () => {
    const times = ['2024-01-01 10:59:59', '2024-01-01 10:00:00', '2024-01-01 10:30:00', null];
    const events = Array.from({ length: 1000 }, (_, i) => makeEvent({ inserted_at: times[i % 4]! }));
    const sut = new ReceiptTally();
    for await (const _ of tallied(rowBatches(asRows(events), 37), sut));
    const expected = events.reduce((acc, e) => BigInt.asUintN(64, acc + sipHash64(e.uuid)), 0n);
    expect(sut.receipt(['k'], 3)).to.deep.equal({
      records: 1000,
      checksum: expected.toString(),
      min_inserted_at: '2024-01-01T10:00:00+00:00',
      max_inserted_at: '2024-01-01T10:59:59+00:00',
      files: ['k'],
      version: 3,
    });
  });

  it('an empty receipt is zero rows, checksum 0, no bounds', () => {
    expect(new ReceiptTally().receipt([], 1)).to.deep.equal({
      records: 0,
      checksum: '0',
      min_inserted_at: null,
      max_inserted_at: null,
      files: [],
      version: 1,
    });
  });

  it('a read-back tally counts each row in its interval, [start, end), leaves out the rest, keeps versions', () => {
    const H = 3_600_000;
    // Two intervals with a gap between them (an export's calendar changed).
    const sut = new ReadBackTally([
      { start: 0, end: H },
      { start: 2 * H, end: 3 * H },
    ]);
    sut.add('a', 0);
    sut.add('b', H - 1);
    sut.add('gap', H);
    sut.add('c', 2 * H);
    sut.add('after', 3 * H);
    sut.add('before', -1);
    sut.version(2 * H, 4);
    expect([...sut.result()]).to.deep.equal([
      [
        0,
        { records: 2, checksum: BigInt.asUintN(64, sipHash64('a') + sipHash64('b')).toString(), receiptVersion: null },
      ],
      [2 * H, { records: 1, checksum: sipHash64('c').toString(), receiptVersion: 4 }],
    ]);
  });
});

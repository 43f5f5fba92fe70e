import { expect } from 'chai';
import { Readable } from 'node:stream';
import { ReadAhead } from '../../packages/clickhouse/src/read-ahead';

const KiB = 1024;
const settle = () => new Promise((r) => setTimeout(r, 20));

describe('ReadAhead', () => {
  /** A source of `count` chunks of 16 KiB that counts how many were pulled from it. */
  function source(count: number) {
    const state = { pulled: 0 };
    const stream = new Readable({
      highWaterMark: 16 * KiB,
      read() {
        if (state.pulled === count) return void this.push(null);
        this.push(Buffer.alloc(16 * KiB, state.pulled++ % 256));
      },
    });
    return { stream, state };
  }

  it('reads ahead of a busy consumer up to its limit, and no further', async () => {
    const { stream, state } = source(1000);
    const reader = new ReadAhead(stream, 256 * KiB);
    await settle(); // the consumer is busy: nothing taken yet
    expect(reader.buffered)
      .to.be.at.least(256 * KiB)
      .and.below(256 * KiB + 64 * KiB);
    const pulledWhilePaused = state.pulled;
    await settle();
    expect(state.pulled).to.be.below(pulledWhilePaused + 4); // paused: at most the stream's own buffer more
    const taken = await reader.take(100 * KiB);
    expect(taken.reduce((n, c) => n + c.length, 0)).to.equal(112 * KiB); // whole chunks, at least what was asked
    await settle();
    expect(state.pulled).to.be.above(pulledWhilePaused); // resumed below the limit
  });

  it('hands every byte over in order, then [] at the end', async () => {
    const { stream } = source(100);
    const reader = new ReadAhead(stream, 64 * KiB);
    const seen: number[] = [];
    for (;;) {
      const chunks = await reader.take(40 * KiB);
      if (chunks.length === 0) break;
      for (const c of chunks) seen.push(c[0]!);
    }
    expect(seen).to.deep.equal(Array.from({ length: 100 }, (_, i) => i));
    expect(await reader.take(1)).to.deep.equal([]);
  });

  it('rejects with the stream error, and on a close before the end', async () => {
    const failing = new Readable({ read() {} });
    const reader = new ReadAhead(failing, 64 * KiB);
    failing.destroy(new Error('socket hang up'));
    const err = await reader.take(1).catch((e: unknown) => e);
    expect(err).to.have.property('message', 'socket hang up');
    const closing = new Readable({ read() {} });
    const reader2 = new ReadAhead(closing, 64 * KiB);
    closing.destroy();
    const err2 = await reader2.take(1).catch((e: unknown) => e);
    expect(err2).to.have.property('message', 'the response closed before its end');
  });
});

import { expect } from 'chai';
import { createCompressor } from '@bx/destination-s3';
import { once } from 'node:events';
import { decompress } from 'zstd-napi';

async function compressAll(chunks: Buffer[]): Promise<Buffer> {
  const sut = createCompressor('zstd');
  const out: Buffer[] = [];
  sut.on('data', (d: Buffer) => out.push(d));
  const ended = once(sut, 'end');
  for (const chunk of chunks) {
    if (!sut.write(chunk)) await once(sut, 'drain');
    await new Promise((r) => setImmediate(r));
  }
  sut.end();
  await ended;
  return Buffer.concat(out);
}

describe('zstd compression on its own thread', () => {
  it('keeps concurrent streams apart, each one a valid frame of exactly its input', async () => {
    const inputs = [0, 1, 2].map((n) =>
      Array.from({ length: 20 }, (_, i) => Buffer.from(`stream ${n} chunk ${i} `.repeat(5000 + n * 100 + i))),
    );
    // A view into a larger buffer: only its own bytes may be compressed.
    const big = Buffer.from('x'.repeat(1000) + 'VIEW' + 'y'.repeat(1000));
    inputs[0]!.push(big.subarray(1000, 1004));
    const results = await Promise.all(inputs.map(compressAll));
    results.forEach((compressed, n) => {
      expect(decompress(compressed).equals(Buffer.concat(inputs[n]!)), `stream ${n}`).to.equal(true);
      expect(compressed.length).to.be.below(Buffer.concat(inputs[n]!).length / 10);
    });
  });
});

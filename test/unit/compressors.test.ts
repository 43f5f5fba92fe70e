import { expect } from 'chai';
import { ownedBuffer } from '@bx/core';
import { createCompressor, zstdFrames } from '@bx/destination-s3';
import { once } from 'node:events';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
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

  it('hands an owned buffer (EventBatch.records()) to the thread without a copy, and copies any other', async () => {
    const text = 'owned records '.repeat(10_000);
    const owned = ownedBuffer(text.length + 100);
    owned.write(text);
    const sent = owned.subarray(0, text.length);
    const shared = Buffer.from(text);
    const compressed = await compressAll([sent, shared]);
    expect(decompress(compressed).toString()).to.equal(text + text);
    // Transferred: the sender's view of the owned memory is detached (reads as empty).
    expect(sent.length).to.equal(0);
    expect(shared.toString()).to.equal(text);
  });
});

describe('zstd Parquet pages (shared slots on the zstd thread)', () => {
  it('compresses more pages at once than there are slots, and pages larger than a slot, each exactly', async () => {
    const compress = zstdFrames(1);
    const pages = Array.from({ length: 20 }, (_, i) => {
      const page = Buffer.alloc(i === 7 ? 3 * 1024 * 1024 : 700_000 + i * 20_000);
      for (let k = 0; k < page.length; k++) page[k] = (k * (i + 3)) % 251;
      return page;
    });
    // Each page is copied before compress() returns: overwriting it at once must not change the frame.
    const frames = pages.map((page) => {
      const copy = Buffer.from(page);
      const frame = compress(page);
      page.fill(0);
      return { copy, frame };
    });
    for (const { copy, frame } of frames) expect(decompress(await frame).equals(copy)).to.equal(true);
  });
});

describe('parallel gzip', () => {
  it('writes members in input order that gunzip reads back as exactly the input', async () => {
    const sut = createCompressor('gzip');
    const out: Buffer[] = [];
    sut.on('data', (d: Buffer) => out.push(d));
    const ended = once(sut, 'end');
    const chunks = Array.from({ length: 9 }, (_, i) => Buffer.from(`chunk ${i};`.repeat(20_000 + (9 - i) * 5_000)));
    for (const chunk of chunks) if (!sut.write(chunk)) await once(sut, 'drain');
    sut.end();
    await ended;
    const file = Buffer.concat(out);
    expect(gunzipSync(file).equals(Buffer.concat(chunks))).to.equal(true);
    // Several members: each starts with the gzip magic bytes.
    let members = 0;
    for (let i = file.indexOf(0x1f); i !== -1; i = file.indexOf(0x1f, i + 1))
      if (file[i + 1] === 0x8b && file[i + 2] === 8) members++;
    expect(members).to.be.at.least(2);
    // DuckDB reads a multi-member file whole.
    const dir = mkdtempSync(join(tmpdir(), 'bx-gz-'));
    try {
      const lines = Array.from({ length: 3 }, (_, k) =>
        Array.from({ length: 4000 }, (_, i) => `{"i":${k * 4000 + i}}\n`).join(''),
      );
      const gz = createCompressor('gzip');
      const parts: Buffer[] = [];
      gz.on('data', (d: Buffer) => parts.push(d));
      const gzEnded = once(gz, 'end');
      for (const l of lines) gz.write(Buffer.from(l));
      gz.end();
      await gzEnded;
      writeFileSync(join(dir, 'f.jsonl.gz'), Buffer.concat(parts));
      const db = await DuckDBInstance.create(':memory:');
      const rows = (
        await (
          await db.connect()
        ).runAndReadAll(`SELECT count(*), max(i) FROM read_json_auto('${join(dir, 'f.jsonl.gz')}')`)
      ).getRows();
      expect(rows).to.deep.equal([[12000n, 11999n]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

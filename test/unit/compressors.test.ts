import { expect } from 'chai';
import { createCompressor, ZSTD_PARQUET_PAGES } from '@bx/destination-s3';
import { EventBatch } from '@bx/batch';
import type { EventRow } from '@bx/core';
import {
  freeStreamMemory,
  PAGE_SLOTS,
  terminateZstdThread,
  ZSTD_JSON_LINES,
  ZstdSlotStream,
  zstdFrames,
  type LentFrame,
} from '@bx/zstd';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decompress } from 'zstd-napi';
import { zstdFrames as framesOf } from '../helpers/zstd-frames';

type Write = Uint8Array | 'too big';

const eventRow = (i: number, pad: string): EventRow => ({
  uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  event: '$pageview',
  properties: JSON.stringify({ i, pad }),
  distinct_id: `user-${i}`,
  team_id: '1',
  timestamp: '2024-01-01 10:00:00',
  created_at: '2024-01-01 10:00:00',
  inserted_at: '2024-01-01 10:00:00',
  elements_chain: '',
  person_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  person_properties: '',
});

/** One ZstdSlotStream: `writes` in order, through a sink that copies late (one turn later), as the parts may. */
async function compressAll(
  writes: Write[],
  sink?: (chunk: Uint8Array) => Promise<void>,
  params = ZSTD_JSON_LINES,
): Promise<Buffer> {
  const out: Buffer[] = [];
  const sut = new ZstdSlotStream(
    params,
    sink ??
      (async (chunk) => {
        await new Promise((r) => setImmediate(r));
        out.push(Buffer.from(chunk));
      }),
  );
  for (const w of writes) {
    if (w === 'too big') expect(await sut.write(() => -1)).to.equal(false);
    else if (w.length > 4 * 1024 * 1024) await sut.writeBytes(w);
    else
      expect(
        await sut.write((input) => {
          input.set(w);
          return w.length;
        }),
      ).to.equal(true);
  }
  await sut.end();
  expect(sut.written).to.equal(Buffer.concat(out).length);
  expect(sut.pending).to.equal(0);
  return Buffer.concat(out);
}

describe('zstd JSON Lines in memory shared with the zstd thread (ZstdSlotStream)', () => {
  it('keeps concurrent streams apart, each one a valid frame of exactly its input', async () => {
    const inputs = [0, 1, 2].map((n) =>
      Array.from({ length: 20 }, (_, i) => Buffer.from(`stream ${n} chunk ${i} `.repeat(5000 + n * 100 + i))),
    );
    // Larger than a slot: copied in a slot at a time. Empty: nothing to compress.
    const big = Buffer.alloc(9 * 1024 * 1024 + 3);
    for (let k = 0; k < big.length; k++) big[k] = (k * 7919) % 253;
    inputs[0]!.push(big, Buffer.alloc(0));
    const results = await Promise.all(
      inputs.map((chunks, n) => compressAll(n === 1 ? ['too big', ...chunks] : chunks)),
    );
    results.forEach((compressed, n) => {
      const input = Buffer.concat(inputs[n]!);
      expect(decompress(compressed).equals(input), `stream ${n}`).to.equal(true);
      if (n > 0) expect(compressed.length).to.be.below(input.length / 10);
    });
  });

  it('writes one frame declaring the window it was given (128 KiB for JSON Lines), over many slots', async () => {
    // 12 MiB of rows that repeat at a 300 KiB distance: only a window that large could reach back.
    const row = Buffer.from(randomBytes(150 * 1024).toString('hex'));
    const chunks = Array.from({ length: 40 }, () => row);
    const input = Buffer.concat(chunks);
    expect(ZSTD_JSON_LINES.windowLog).to.equal(17);
    const small = await compressAll(chunks);
    const large = await compressAll(chunks, undefined, { ...ZSTD_JSON_LINES, windowLog: 19 });
    expect(framesOf(small)).to.deep.equal([{ bytes: small.length, window: 128 * 1024 }]);
    expect(framesOf(large)).to.deep.equal([{ bytes: large.length, window: 512 * 1024 }]);
    expect(decompress(small).equals(input)).to.equal(true);
    expect(decompress(large).equals(input)).to.equal(true);
    // The window is what each frame was allowed to match against.
    expect(large.length).to.be.below(small.length / 10);
  });

  it('Huffman-codes literals with the faster match finder (targetLength), where zstd alone would store them raw', async () => {
    expect(ZSTD_JSON_LINES.targetLength).to.be.above(0);
    // Hex text without repeats: only literal coding (4 bits a character) makes it smaller.
    const hex = Array.from({ length: 8 }, () => Buffer.from(randomBytes(256 * 1024).toString('hex')));
    const input = Buffer.concat(hex);
    const compressed = await compressAll(hex);
    expect(decompress(compressed).equals(input)).to.equal(true);
    expect(compressed.length).to.be.within(input.length * 0.5, input.length * 0.53);
  });

  it("fails its writes and its end once the sink fails, with the sink's error", async () => {
    let calls = 0;
    const sink = async () => {
      calls++;
      throw new Error('part upload failed');
    };
    const sut = new ZstdSlotStream(ZSTD_JSON_LINES, sink);
    // Incompressible input: output reaches the sink with the first slot.
    const noise = Buffer.alloc(1024 * 1024);
    for (let k = 0; k < noise.length; k++) noise[k] = (k * 2654435761) >>> 24;
    const fill = (input: Uint8Array) => {
      input.set(noise);
      return noise.length;
    };
    let failure: unknown = null;
    try {
      for (let i = 0; i < 10; i++) await sut.write(fill);
      await sut.end();
    } catch (err) {
      failure = err;
    }
    expect((failure as Error | null)?.message).to.equal('part upload failed');
    expect(calls).to.equal(1);
    sut.destroy();
  });

  it("writes a batch's records into slots as many rows at a time as fit, and the rest of one too large by copy", async () => {
    // 30,000 rows of about 300 bytes: more records than a 4 MiB slot holds.
    const rows = Array.from({ length: 30_000 }, (_, i) => eventRow(i, 'p'.repeat(150 + (i % 50))));
    rows[20_000] = eventRow(20_000, 'h'.repeat(5 * 1024 * 1024)); // one row larger than a slot
    const batch = EventBatch.fromRows(rows);
    const out: Buffer[] = [];
    const sut = new ZstdSlotStream(ZSTD_JSON_LINES, async (chunk) => void out.push(Buffer.from(chunk)));
    const slots: number[] = [];
    const recordsInto = batch.recordsInto.bind(batch);
    batch.recordsInto = (target, from = 0) => {
      const written = recordsInto(target, from);
      slots.push(written.next - from);
      return written;
    };
    await sut.writeRecords(batch);
    await sut.end();
    expect(decompress(Buffer.concat(out)).equals(batch.records())).to.equal(true);
    expect(slots.length, 'several slots of rows').to.be.greaterThan(1);
    expect(slots[0]).to.be.above(1000).and.below(20_000);
    expect(slots.at(-1), 'the too large row stops the slots: the rest is copied').to.equal(0);
  });

  it('hands its memory to the next stream once its frame has ended, not after a failure; the next frame is exactly its own input', async () => {
    const big = randomBytes(3 * 1024 * 1024);
    const first = new ZstdSlotStream(ZSTD_JSON_LINES, async () => undefined);
    await first.write((input) => {
      input.set(big);
      return big.length;
    });
    await first.end();
    const free = freeStreamMemory();
    expect(free).to.be.greaterThan(0);
    let failure: unknown = null;
    await first.write(() => 0).catch((err: unknown) => (failure = err));
    expect((failure as Error | null)?.message).to.equal('zstd stream ended');

    // The next stream writes into that memory (the pool gives it up), over the first stream's bytes.
    const small = Buffer.from('{"a":1}\n'.repeat(1000));
    const out: Buffer[] = [];
    const second = new ZstdSlotStream(ZSTD_JSON_LINES, async (chunk) => void out.push(Buffer.from(chunk)));
    await second.write((input) => {
      input.set(small);
      return small.length;
    });
    expect(freeStreamMemory()).to.equal(free - 1);
    await second.end();
    expect(decompress(Buffer.concat(out)).equals(small)).to.equal(true);
    expect(freeStreamMemory()).to.equal(free);

    // A stream whose sink failed keeps its memory: a request may still be writing there.
    const failing = new ZstdSlotStream(ZSTD_JSON_LINES, async () => {
      throw new Error('sink down');
    });
    await failing.write((input) => {
      input.set(small);
      return small.length;
    });
    await failing.end().catch(() => undefined);
    expect(freeStreamMemory()).to.equal(free - 1);
  });

  it('refuses writes after destroy()', async () => {
    const sut = new ZstdSlotStream(ZSTD_JSON_LINES, async () => undefined);
    await sut.write((input) => {
      input[0] = 1;
      return 1;
    });
    sut.destroy();
    let failure: unknown = null;
    await sut.write(() => 0).catch((err: unknown) => (failure = err));
    expect((failure as Error | null)?.message).to.equal('zstd stream closed');
  });

  describe('when the zstd thread dies', () => {
    const text = (n: number) => Buffer.from(`row ${n} `.repeat(100_000));
    const fill = (data: Buffer) => (input: Uint8Array) => {
      input.set(data);
      return data.length;
    };
    const failureOf = async (run: () => Promise<unknown>): Promise<Error | null> => {
      try {
        await run();
        return null;
      } catch (err) {
        return err as Error;
      }
    };

    it('a stream with slots in flight fails (no hang), and a new stream starts a new thread', async () => {
      const sut = new ZstdSlotStream(ZSTD_JSON_LINES, async () => undefined);
      await sut.write(fill(text(1)));
      await sut.write(fill(text(2)));
      await terminateZstdThread();
      const failure = await failureOf(async () => {
        for (let i = 3; i < 6; i++) await sut.write(fill(text(i)));
        await sut.end();
      });
      expect(failure?.message).to.match(/zstd-thread\.js exited|zstd stream \d+ is not open/);
      const chunks = [text(7), text(8), text(9)];
      expect(decompress(await compressAll(chunks)).equals(Buffer.concat(chunks))).to.equal(true);
    });

    it('a stream opened on the old thread, idle when it died, fails on its next slot: "not open"', async () => {
      const sut = new ZstdSlotStream(ZSTD_JSON_LINES, async () => undefined);
      await sut.write(fill(text(1)));
      await sut.flushed();
      await terminateZstdThread();
      const failure = await failureOf(async () => {
        await sut.write(fill(text(2)));
        await sut.end();
      });
      expect(failure?.message).to.match(/zstd stream \d+ is not open/);
    });
  });
});

/** A page's frame as bytes of its own: a frame lent from a shared slot is copied and released. */
function owned(frame: Uint8Array | LentFrame): Buffer {
  if (frame instanceof Uint8Array) return Buffer.from(frame);
  const copy = Buffer.from(frame.bytes);
  frame.release();
  return copy;
}

describe('zstd Parquet pages (shared slots on the zstd thread)', () => {
  it('lends each frame from its slot until released; with every slot lent, a page comes back in a buffer of its own', async () => {
    const compress = zstdFrames(ZSTD_PARQUET_PAGES);
    const page = Buffer.from('a parquet page '.repeat(40_000));
    const lent: LentFrame[] = [];
    for (let i = 0; i < PAGE_SLOTS; i++) {
      const frame = await compress(page);
      expect(frame, `page ${i}`).to.not.be.instanceOf(Uint8Array);
      lent.push(frame as LentFrame);
    }
    const beyond = await compress(page);
    expect(beyond).to.be.instanceOf(Uint8Array);
    expect(decompress(beyond as Uint8Array).equals(page)).to.equal(true);
    // Each lent frame is intact while lent, however many pages were compressed since.
    for (const frame of lent) expect(decompress(owned(frame)).equals(page)).to.equal(true);
    const again = await compress(page);
    expect(again, 'released slots are lent again').to.not.be.instanceOf(Uint8Array);
    (again as LentFrame).release();
  });

  it('compresses more pages at once than there are slots, and pages larger than a slot, each exactly', async () => {
    const compress = zstdFrames(ZSTD_PARQUET_PAGES);
    const pages = Array.from({ length: PAGE_SLOTS + 4 }, (_, i) => {
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
    for (const { copy, frame } of frames) expect(decompress(owned(await frame)).equals(copy)).to.equal(true);
  });

  it('compresses with the params it was given: their window, literals Huffman-coded with the faster match finder', async () => {
    expect(ZSTD_PARQUET_PAGES).to.include({ windowLog: 17 }).and.have.property('targetLength').above(0);
    // 1 MiB of hex text without repeats, in a page (shared slot) and in a page larger than a slot.
    for (const size of [512 * 1024, 1600 * 1024]) {
      const page = Buffer.from(randomBytes(size).toString('hex'));
      const frame = owned(await zstdFrames(ZSTD_PARQUET_PAGES)(page));
      expect(decompress(frame).equals(page)).to.equal(true);
      expect(framesOf(frame), `${size * 2} bytes`).to.deep.equal([{ bytes: frame.length, window: 128 * 1024 }]);
      // Only literal coding (4 bits a character) makes it smaller; zstd alone would store it raw.
      expect(frame.length, `${size * 2} bytes`).to.be.within(page.length * 0.5, page.length * 0.53);
    }
    // Other params get a context of their own on the thread.
    const page = Buffer.from(randomBytes(512 * 1024).toString('hex'));
    const wide = owned(await zstdFrames({ ...ZSTD_PARQUET_PAGES, windowLog: 20 })(page));
    expect(framesOf(wide)).to.deep.equal([{ bytes: wide.length, window: null }]);
  });

  it('after the thread dies, the next page sends the shared memory to the new thread and compresses exactly', async () => {
    const compress = zstdFrames(ZSTD_PARQUET_PAGES);
    const page = Buffer.from('a parquet page '.repeat(40_000));
    expect(decompress(owned(await compress(page))).equals(page)).to.equal(true);
    await terminateZstdThread();
    // The new thread has no page memory: it answers NO_SHARED_MEMORY and the page is sent again with it.
    for (let i = 0; i < 3; i++) expect(decompress(owned(await compress(page))).equals(page)).to.equal(true);
  });
});

describe('parallel gzip', () => {
  it('keeps input order when small chunks (compressed in place) follow large ones (on the threadpool)', async () => {
    const sut = createCompressor('gzip');
    const out: Buffer[] = [];
    sut.on('data', (d: Buffer) => out.push(d));
    const ended = once(sut, 'end');
    const chunks = Array.from({ length: 8 }, (_, i) => Buffer.from(`c${i};`.repeat(i % 2 ? 10 : 60_000)));
    for (const chunk of chunks) if (!sut.write(chunk)) await once(sut, 'drain');
    sut.end();
    await ended;
    expect(gunzipSync(Buffer.concat(out)).equals(Buffer.concat(chunks))).to.equal(true);
  });

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

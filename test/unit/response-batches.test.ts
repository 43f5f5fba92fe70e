import { expect } from 'chai';
import type { EventBatch } from '@bx/batch';
import { BufferPool } from '../../packages/clickhouse/src/buffer-pool';
import { ClickHouseHttpError, ResponseBatches } from '../../packages/clickhouse/src/response-batches';
import { encodeRowBinary, type WireRow } from '../helpers/row-binary';

const wire = (i: number): WireRow => ({
  uuid: `0189a1d4-0000-7000-8000-${String(i).padStart(12, '0')}`,
  event: `event ${i}`,
  properties: JSON.stringify({ i, pad: 'x'.repeat(i % 300) }),
  distinct_id: `user-${i}`,
  team_id: 1n,
  timestamp: '2024-01-01 00:00:00',
  created_at: '2024-01-01 00:00:01',
  inserted_at: i % 7 ? '2024-01-01 01:00:00' : null,
  elements_chain: '',
  person_id: '0189a1d4-0000-7000-8000-000000000002',
  person_properties: '{}',
});
const rows = Array.from({ length: 500 }, (_, i) => wire(i));
const body = encodeRowBinary(rows);

/** A reader fed `response` in pieces of `piece` bytes, then closed; the flow calls it made. */
function feed(response: Buffer, piece = 997, opts = { batchBytes: 8 * 1024, readAheadBytes: 1 << 30 }) {
  const flow = { closed: 0, resumed: 0 };
  const sut = new ResponseBatches(opts, { close: () => flow.closed++, resume: () => flow.resumed++ });
  for (let at = 0; at < response.length; at += piece) sut.push(response.subarray(at, at + piece));
  sut.closed();
  return { sut, flow };
}

async function drain(sut: ResponseBatches): Promise<EventBatch[]> {
  const out: EventBatch[] = [];
  for (let b = await sut.take(); b; b = await sut.take()) out.push(b);
  return out;
}

const head = (lines: string[]) => Buffer.from(['HTTP/1.1 200 OK', ...lines, '', ''].join('\r\n'));
const chunked = (data: Buffer, size = 4096) => {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) {
    const piece = data.subarray(at, at + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  return Buffer.concat([...parts, Buffer.from('0\r\n\r\n')]);
};
const uuids = (batches: EventBatch[]) => batches.flatMap((b) => b.rows().map((r) => r.uuid));

describe('ResponseBatches: a ClickHouse HTTP answer parsed from bytes', () => {
  it('frames every row of a chunked, a Content-Length and a close-delimited body, read in any piece size', async () => {
    const answers = [
      Buffer.concat([head(['Transfer-Encoding: chunked', 'X-ClickHouse-Progress: {"read_rows":"1"}']), chunked(body)]),
      Buffer.concat([head([`Content-Length: ${body.length}`]), body, Buffer.from('ignored after the body')]),
      Buffer.concat([head(['Connection: close']), body]),
    ];
    for (const answer of answers) {
      for (const piece of [1, 7, 4096, answer.length]) {
        const { sut, flow } = feed(answer, piece);
        const batches = await drain(sut);
        expect(uuids(batches), `piece ${piece}`).to.deep.equal(rows.map((r) => r.uuid));
        // Each read is framed as it comes: small reads make batches of about batchBytes.
        if (piece < 8192) expect(batches.length).to.be.greaterThan(5);
        expect(flow.closed).to.be.at.least(1);
      }
    }
  });

  it("fails a non-200 answer with ClickHouse's text and exception code", async () => {
    const text = "Code: 60, e.displayText() = DB::Exception: Table x.y doesn't exist., e.what() = DB::Exception\n";
    const answer = Buffer.concat([
      Buffer.from('HTTP/1.1 404 Not Found\r\nX-ClickHouse-Exception-Code: 60\r\nTransfer-Encoding: chunked\r\n\r\n'),
      chunked(Buffer.from(text), 10),
    ]);
    const err = await feed(answer)
      .sut.take()
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ClickHouseHttpError);
    expect((err as ClickHouseHttpError).code).to.equal('60');
    expect((err as ClickHouseHttpError).status).to.equal(404);
    expect((err as Error).message).to.equal(text.trim());
  });

  it('fails, naming the problem, on what is not an answer it can read', async () => {
    const bad: Array<[Buffer, RegExp]> = [
      [Buffer.from('SSH-2.0-OpenSSH_9.2\r\n\r\n'), /not an HTTP response: "SSH-2.0-OpenSSH_9.2"/],
      [
        Buffer.concat([head(['Transfer-Encoding: gzip, chunked']), body]),
        /unsupported transfer encoding gzip, chunked/,
      ],
      [
        Buffer.concat([head(['Content-Encoding: gzip', 'Content-Length: 3']), body]),
        /unexpected content encoding gzip/,
      ],
      [Buffer.from('HTTP/1.1 200 OK\r\n' + 'X-Pad: y\r\n'.repeat(8000)), /response headers larger than 65536 bytes/],
      [
        Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n12\r\nabc'),
        /the response closed before its end/,
      ],
      [Buffer.from('HTTP/1.1 200 OK\r\n'), /closed the connection without an answer/],
      [Buffer.concat([head(['Transfer-Encoding: chunked']), Buffer.from('zz\r\n')]), /chunked response: byte 122/],
      // Cut inside a row, at the end of a close-delimited body: the stream is broken, not shorter.
      [Buffer.concat([head([]), body.subarray(0, body.length - 3)]), /ClickHouse stream broken/],
    ];
    for (const [answer, message] of bad) {
      const { sut, flow } = feed(answer);
      const err = await drain(sut).catch((e: unknown) => e);
      expect(err, message.source).to.be.instanceOf(Error);
      expect((err as Error).message).to.match(message);
      expect(flow.closed).to.be.at.least(1);
    }
  });

  it('asks to pause at its read-ahead limit and to resume once batches are taken', async () => {
    const answer = Buffer.concat([head(['Transfer-Encoding: chunked']), chunked(body)]);
    const flow = { closed: 0, resumed: 0 };
    const sut = new ResponseBatches(
      { batchBytes: 4 * 1024, readAheadBytes: 16 * 1024 },
      { close: () => flow.closed++, resume: () => flow.resumed++ },
    );
    let at = 0;
    let reading = true;
    while (reading && at < answer.length) {
      const room = sut.room();
      const n = Math.min(1000, room.length, answer.length - at);
      answer.copy(room, 0, at, at + n);
      at += n;
      reading = sut.received(n);
    }
    expect(reading).to.equal(false);
    expect(at).to.be.below(answer.length);
    expect(sut.buffered).to.be.at.least(16 * 1024);
    const taken: EventBatch[] = [];
    while (flow.resumed === 0) taken.push((await sut.take())!);
    expect(sut.buffered).to.be.below(16 * 1024);
    sut.push(answer.subarray(at));
    sut.closed();
    taken.push(...(await drain(sut)));
    expect(uuids(taken)).to.deep.equal(rows.map((r) => r.uuid));
  });

  it('reads a row larger than its read-ahead limit to its end, instead of waiting for a take that cannot come', async () => {
    const big = [wire(1), { ...wire(2), properties: JSON.stringify({ pad: 'y'.repeat(100_000) }) }, wire(3)];
    const answer = Buffer.concat([head(['Transfer-Encoding: chunked']), chunked(encodeRowBinary(big))]);
    let resume = () => undefined as void;
    const sut = new ResponseBatches(
      { batchBytes: 4 * 1024, readAheadBytes: 16 * 1024 },
      { close: () => undefined, resume: () => resume() },
    );
    let pauses = 0;
    // The connection: reads on while `received` says so, else until `resume`.
    const connection = (async () => {
      for (let at = 0; at < answer.length;) {
        const room = sut.room();
        const n = Math.min(1000, room.length, answer.length - at);
        answer.copy(room, 0, at, at + n);
        at += n;
        if (!sut.received(n) && at < answer.length) {
          pauses++;
          await new Promise<void>((r) => (resume = r));
        }
      }
      sut.closed();
    })();
    const hung = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`hung with ${sut.buffered} bytes read and not taken`)), 5_000).unref(),
    );
    const [taken] = await Promise.race([Promise.all([drain(sut), connection]), hung]);
    expect(uuids(taken)).to.deep.equal(big.map((r) => r.uuid));
    expect(taken.find((b) => b.rows().some((r) => r.uuid === big[1]!.uuid))!.bytes.length).to.be.above(100_000);
    // It did pause while a batch waited to be taken: before the big row began.
    expect(pauses).to.equal(1);
  });
});

describe('ResponseBatches with a buffer pool', () => {
  const opts = { batchBytes: 8 * 1024, readAheadBytes: 1 << 30 };
  const answer = Buffer.concat([head(['Transfer-Encoding: chunked']), chunked(body)]);
  const read = async (pool: BufferPool, reuseBuffers: boolean) => {
    const sut = new ResponseBatches(
      { ...opts, pool, reuseBuffers },
      { close: () => undefined, resume: () => undefined },
    );
    for (let at = 0; at < answer.length; at += 997) sut.push(answer.subarray(at, at + 997));
    sut.closed();
    const batches = await drain(sut);
    sut.release();
    return { got: uuids(batches), indexes: new Set(batches.map((b) => b.index.buffer)) };
  };

  it('a response done with hands its buffers to the next one, whose rows are its own', async () => {
    const pool = new BufferPool(100);
    const first = await read(pool, true);
    expect(first.got).to.deep.equal(rows.map((r) => r.uuid));
    const kept = pool.size;
    expect(kept).to.be.greaterThan(1);
    const second = await read(pool, true);
    expect(second.got).to.deep.equal(rows.map((r) => r.uuid));
    // The second response read into the buffers the first gave back (fresh ones would double the pool),
    // and framed most batches into their indexes (fresh ones would share none).
    expect(pool.size).to.equal(kept);
    const reused = [...second.indexes].filter((index) => first.indexes.has(index));
    expect(reused.length).to.be.greaterThan(second.indexes.size / 2);
  });

  it('a reader that may keep views of its batches (no reuseBuffers) gives nothing back; nor does one still reading', async () => {
    const pool = new BufferPool(8);
    await read(pool, false);
    expect(pool.size).to.equal(0);
    const sut = new ResponseBatches({ ...opts, pool, reuseBuffers: true }, { close: () => 0, resume: () => 0 });
    sut.push(answer.subarray(0, 1000));
    sut.release();
    expect(pool.size).to.equal(0);
  });
});

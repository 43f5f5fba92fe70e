import { expect } from 'chai';
import { ChunkedBody } from '../../packages/clickhouse/src/chunked-body';
import { seededRandom } from '../helpers/seeded-random';

/** `pieces` as HTTP/1.1 chunked coding, with an extension on one chunk and a trailer. */
function encode(pieces: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  pieces.forEach((p, i) => {
    const size = i % 2 ? p.length.toString(16).toUpperCase() : p.length.toString(16);
    parts.push(Buffer.from(`${size}${i === 1 ? ';name=value' : ''}\r\n`), p, Buffer.from('\r\n'));
  });
  parts.push(Buffer.from('0\r\nX-Trailer: yes\r\n\r\n'));
  return Buffer.concat(parts);
}

/** Decodes `wire` as bytes arriving in reads of the given sizes, in one buffer, as the response reader does. */
function decodeInReads(wire: Buffer, sizes: () => number): { data: Buffer; done: boolean } {
  const buf = Buffer.alloc(wire.length + 16);
  const sut = new ChunkedBody();
  let at = 0;
  let read = 0;
  while (read < wire.length && !sut.done) {
    const n = Math.min(sizes(), wire.length - read);
    wire.copy(buf, at, read, read + n);
    read += n;
    at = sut.decode(buf, at, at, at + n);
  }
  return { data: buf.subarray(0, at), done: sut.done };
}

describe('chunked transfer coding, decoded in place', () => {
  const random = seededRandom(5);
  const pieces = Array.from({ length: 40 }, (_, i) => {
    const p = Buffer.alloc(i === 3 ? 70_000 : Math.floor(random() * 5000) + 1);
    for (let k = 0; k < p.length; k++) p[k] = Math.floor(random() * 256);
    return p;
  });
  const wire = encode(pieces);
  const body = Buffer.concat(pieces);

  it('gives back exactly the data for reads of every size from 1 byte, the framing split anywhere', () => {
    for (const size of [1, 2, 3, 5, 7, 4096, 4101, 65536, wire.length]) {
      const { data, done } = decodeInReads(wire, () => size);
      expect(data.equals(body), `reads of ${size}`).to.equal(true);
      expect(done).to.equal(true);
    }
    const { data } = decodeInReads(wire, () => 1 + Math.floor(random() * 300));
    expect(data.equals(body)).to.equal(true);
  });

  it('is done only after the last chunk and its trailer, and ignores what follows', () => {
    const cut = decodeInReads(wire.subarray(0, wire.length - 1), () => 4096);
    expect(cut.done).to.equal(false);
    expect(cut.data.equals(body)).to.equal(true);
    const beforeLast = decodeInReads(wire.subarray(0, wire.length - '0\r\nX-Trailer: yes\r\n\r\n'.length), () => 999);
    expect(beforeLast.done).to.equal(false);
    const extra = decodeInReads(Buffer.concat([wire, Buffer.from('garbage')]), () => 4096);
    expect(extra.done).to.equal(true);
    expect(extra.data.equals(body)).to.equal(true);
  });

  it('refuses framing that is not chunked coding, naming what is wrong', () => {
    const bad: Array<[string, RegExp]> = [
      ['zz\r\nabc', /byte 122 where a chunk size belongs/],
      ['3\r\nabcd\r\n', /longer than its size/],
      ['3\r\nabc\rX', /without CRLF/],
      ['3\rXabc', /without LF/],
      ['\r\n', /where a chunk size belongs/],
      ['10000000000000\r\n', /chunk size too long/],
    ];
    for (const [text, message] of bad) {
      const buf = Buffer.from(text);
      expect(() => new ChunkedBody().decode(buf, 0, 0, buf.length), text).to.throw(message);
    }
  });
});

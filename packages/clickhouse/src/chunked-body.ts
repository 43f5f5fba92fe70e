import * as native from '@bx/native';

/**
 * HTTP/1.1 chunked transfer coding, decoded in place: the chunk framing is
 * removed from a buffer as bytes arrive, moving each chunk's data down over
 * the framing before it. ClickHouse sends a chunk per 4 KiB, so this runs
 * once per 4 KiB; the data itself moves once, while it is still in the
 * cache from the socket read that put it there. The loop is in C
 * (packages/native/src/chunked.c).
 */
export class ChunkedBody {
  /** [phase, bytes left in the chunk, size so far, size digits, bad byte]: the C decoder's. */
  private readonly state = new BigInt64Array(5);

  /** Whether the last chunk (size 0) and the trailer that follows it have been read. */
  get done(): boolean {
    return this.state[0] === DONE;
  }

  /**
   * Decodes `buf[from, to)`, the bytes just read, writing the data to
   * `buf[at, ...)` (`at` ≤ `from`: where the data decoded so far ends).
   * Answers where the data now ends. Bytes after the end of the body are
   * ignored. Throws on framing that is not chunked coding.
   */
  decode(buf: Uint8Array, at: number, from: number, to: number): number {
    const end = native.dechunk(buf, at, from, to, this.state);
    if (end >= 0) return end;
    const why = end === BAD_SIZE ? `byte ${this.state[4]} where a chunk size belongs` : REASONS[-end];
    throw new Error(`chunked response: ${why}`);
  }
}

const DONE = 9n;
const BAD_SIZE = -1;
const REASONS = [
  '',
  '',
  'chunk size too long',
  'chunk size line without LF',
  'chunk data longer than its size',
  'chunk data without CRLF',
  'trailer without LF',
];

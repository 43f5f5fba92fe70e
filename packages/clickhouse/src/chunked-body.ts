/**
 * HTTP/1.1 chunked transfer coding, decoded in place: the chunk framing is
 * removed from a buffer as bytes arrive, moving each chunk's data down over
 * the framing before it. ClickHouse sends a chunk per 4 KiB of its output,
 * so this runs once per 4 KiB; the data itself moves once, while it is
 * still in the cache from the socket read that put it there.
 */
export class ChunkedBody {
  /** Data bytes left in the current chunk. */
  private left = 0;
  private size = 0;
  private digits = 0;
  private phase: Phase = Phase.Size;
  /** Whether the last chunk (size 0) and the trailer that follows it have been read. */
  done = false;

  /**
   * Decodes `buf[from, to)`, the bytes just read, writing the data to
   * `buf[at, ...)` (`at` ≤ `from`: where the data decoded so far ends).
   * Answers where the data now ends. Bytes after the end of the body are
   * ignored. Throws on framing that is not chunked coding.
   */
  decode(buf: Uint8Array, at: number, from: number, to: number): number {
    let p = from;
    while (p < to && !this.done) {
      if (this.phase === Phase.Data) {
        const n = Math.min(this.left, to - p);
        if (at !== p) buf.copyWithin(at, p, p + n);
        at += n;
        p += n;
        this.left -= n;
        if (this.left === 0) this.phase = Phase.DataEnd;
        continue;
      }
      const c = buf[p++]!;
      switch (this.phase) {
        case Phase.Size: {
          const d = hexValue(c);
          if (d >= 0) {
            // 13 hex digits are more than any response can hold (2^52 bytes).
            if (++this.digits > 13) throw new Error('chunked response: chunk size too long');
            this.size = this.size * 16 + d;
          } else if (this.digits > 0 && (c === CR || c === SEMICOLON || c === SPACE || c === TAB)) {
            this.phase = c === CR ? Phase.SizeLf : Phase.Extension;
          } else {
            throw new Error(`chunked response: byte ${c} where a chunk size belongs`);
          }
          break;
        }
        case Phase.Extension:
          if (c === CR) this.phase = Phase.SizeLf;
          break;
        case Phase.SizeLf:
          if (c !== LF) throw new Error('chunked response: chunk size line without LF');
          if (this.size === 0) {
            this.phase = Phase.Trailer;
          } else {
            this.left = this.size;
            this.phase = Phase.Data;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case Phase.DataEnd:
          if (c !== CR) throw new Error('chunked response: chunk data longer than its size');
          this.phase = Phase.DataLf;
          break;
        case Phase.DataLf:
          if (c !== LF) throw new Error('chunked response: chunk data without CRLF');
          this.phase = Phase.Size;
          break;
        // After the last chunk: trailer lines, each ending in CRLF, then an empty line.
        case Phase.Trailer:
          this.phase = c === CR ? Phase.TrailerEndLf : Phase.TrailerLine;
          break;
        case Phase.TrailerLine:
          if (c === LF) this.phase = Phase.Trailer;
          break;
        case Phase.TrailerEndLf:
          if (c !== LF) throw new Error('chunked response: trailer without LF');
          this.done = true;
          break;
      }
    }
    return at;
  }
}

const enum Phase {
  Size,
  Extension,
  SizeLf,
  Data,
  DataEnd,
  DataLf,
  Trailer,
  TrailerLine,
  TrailerEndLf,
}

const CR = 13;
const LF = 10;
const SEMICOLON = 59;
const SPACE = 32;
const TAB = 9;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

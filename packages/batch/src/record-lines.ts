import * as native from '@bx/native';

/** Why a native record writer stopped (native.writeRecords, native.writeColumns). */
export const DONE = 0;
export const NEEDS_ROOM = 1;

/** How a batch writes its records: the native writer, and the rows it leaves. */
export interface RecordWriter {
  /** One call of the native writer from `state` = [row, bytes written], advancing it; answers why it stopped. */
  write(out: Uint8Array, state: Float64Array): number;
  /** Row `r`'s record with its newline, written value by value (the exact path). */
  exactLine(r: number): string;
  /** Bytes the native writer may need for row `r`. */
  room(r: number): number;
}

/**
 * Writes the records of a batch's rows `from`.. into `out` from its start:
 * the native writer, and the exact path for each row it leaves.
 * `room(out, used, n)` answers a buffer holding `out`'s first `used` bytes
 * with room for `n` more (`out` itself when it has it), or null to stop
 * there. Answers the buffer, the bytes written, the row it stopped at
 * (`count` when every row is written: `next`) and the rows that took the
 * exact path.
 */
export function writeRecordLines<B extends Uint8Array>(
  writer: RecordWriter,
  out: B,
  from: number,
  count: number,
  room: (out: B, used: number, n: number) => B | null,
): { out: B; length: number; next: number; exactRows: number } {
  const state = new Float64Array(2); // [row, bytes written]
  state[0] = from;
  let exactRows = 0;
  for (;;) {
    const stop = writer.write(out, state);
    const r: number = state[0]!;
    const o: number = state[1]!;
    if (stop === DONE) return { out, length: o, next: count, exactRows };
    const line = stop === NEEDS_ROOM ? null : Buffer.from(writer.exactLine(r));
    const bigger = room(out, o, line ? line.length : writer.room(r));
    if (!bigger) return { out, length: o, next: r, exactRows };
    out = bigger;
    if (!line) continue;
    exactRows++;
    native.copy(out, o, line);
    state[0] = r + 1;
    state[1] = o + line.length;
  }
}

/** `out` with room for `n` bytes after its first `used`. */
export function grown(out: Buffer, used: number, n: number): Buffer {
  if (used + n <= out.length) return out;
  const bigger = Buffer.allocUnsafeSlow(Math.max(used + n, out.length * 2));
  out.copy(bigger, 0, 0, used);
  return bigger;
}

/**
 * Rows `[from, to)` of a batch (`slots` index entries a row) on the batch's
 * memory: no copy of the bytes; the index is copied and rebased.
 */
export function sliceRows(
  bytes: Buffer,
  batchIndex: Int32Array,
  slots: number,
  from: number,
  to: number,
): { bytes: Buffer; index: Int32Array } {
  const index = batchIndex.slice(from * slots, to * slots);
  let lo = Infinity;
  let hi = 0;
  for (let i = 0; i < index.length; i += 2) {
    if (index[i]! < 0) continue; // a null: -1, -1
    lo = Math.min(lo, index[i]!);
    hi = Math.max(hi, index[i + 1]!);
  }
  if (lo === Infinity) lo = hi = 0;
  for (let i = 0; i < index.length; i++) if (index[i]! >= 0) index[i]! -= lo;
  return { bytes: bytes.subarray(lo, hi), index };
}

import * as native from '@bx/native';
import { SLOTS } from './event-fields';

/**
 * A validator for JSON text held as UTF-8 bytes, so a JSON column can be
 * copied into a record without decoding, parsing and re-serialising it.
 *
 * It answers true only when `jsonColumn` would emit the text unchanged: the
 * bytes are well-formed UTF-8 holding one valid JSON value with no line break
 * (`\n`, `\r`, U+2028, U+2029) and no raw control character. Anything else, including nesting
 * deeper than {@link MAX_DEPTH}, answers false and the caller takes the exact
 * (slow) path. A false "true" would put invalid JSON in a record, so the
 * property tests compare it with `JSON.parse` on hostile inputs.
 */
export function isVerbatimJson(b: Uint8Array, start: number, end: number): boolean {
  const s = new JsonScan(b, end);
  let i = s.space(start);
  if (i < 0 || i >= end) return false;
  i = s.value(i, 0);
  if (i < 0) return false;
  return s.space(i) === end;
}

/** Deeper documents are checked by `JSON.parse` instead (no recursion limit to reason about). */
const MAX_DEPTH = 64;

const QUOTE = 0x22;
/** 1 for bytes a JSON string holds as they are: ASCII but for `"`, `\\` and control characters. */
const STRING_PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) STRING_PLAIN[c] = 1;
STRING_PLAIN[0x22] = 0;
STRING_PLAIN[0x5c] = 0;
const BACKSLASH = 0x5c;

class JsonScan {
  constructor(
    private readonly b: Uint8Array,
    private readonly end: number,
  ) {}

  /** Index after JSON whitespace; -1 at a line break (slow path). */
  space(i: number): number {
    const { b, end } = this;
    while (i < end) {
      const c = b[i]!;
      if (c === 0x20 || c === 0x09) i++;
      else if (c === 0x0a || c === 0x0d) return -1;
      else break;
    }
    return i;
  }

  /** Index after the value starting at `i`, or -1. */
  value(i: number, depth: number): number {
    const c = this.b[i];
    if (c === QUOTE) return this.string(i);
    if (c === 0x7b) return depth < MAX_DEPTH ? this.object(i, depth) : -1;
    if (c === 0x5b) return depth < MAX_DEPTH ? this.array(i, depth) : -1;
    if (c === 0x74) return this.literal(i, TRUE);
    if (c === 0x66) return this.literal(i, FALSE);
    if (c === 0x6e) return this.literal(i, NULL);
    return this.number(i);
  }

  private object(i: number, depth: number): number {
    const { b, end } = this;
    i = this.space(i + 1);
    if (i < 0 || i >= end) return -1;
    if (b[i] === 0x7d) return i + 1;
    for (;;) {
      if (b[i] !== QUOTE) return -1;
      i = this.string(i);
      if (i < 0) return -1;
      i = this.space(i);
      if (i < 0 || b[i] !== 0x3a) return -1;
      i = this.space(i + 1);
      if (i < 0 || i >= end) return -1;
      i = this.value(i, depth + 1);
      if (i < 0) return -1;
      i = this.space(i);
      if (i < 0 || i >= end) return -1;
      const d = b[i];
      if (d === 0x7d) return i + 1;
      if (d !== 0x2c) return -1;
      i = this.space(i + 1);
      if (i < 0 || i >= end) return -1;
    }
  }

  private array(i: number, depth: number): number {
    const { b, end } = this;
    i = this.space(i + 1);
    if (i < 0 || i >= end) return -1;
    if (b[i] === 0x5d) return i + 1;
    for (;;) {
      i = this.value(i, depth + 1);
      if (i < 0) return -1;
      i = this.space(i);
      if (i < 0 || i >= end) return -1;
      const d = b[i];
      if (d === 0x5d) return i + 1;
      if (d !== 0x2c) return -1;
      i = this.space(i + 1);
      if (i < 0 || i >= end) return -1;
    }
  }

  private string(i: number): number {
    const { b, end } = this;
    for (i++; i < end; i++) {
      // Plain bytes are most of a document: skip them with one table lookup each.
      while (i < end && STRING_PLAIN[b[i]!] === 1) i++;
      if (i >= end) return -1;
      const c = b[i]!;
      if (c === QUOTE) return i + 1;
      if (c < 0x20) return -1;
      if (c === BACKSLASH) {
        const e = b[i + 1];
        if (e === 0x75) {
          if (i + 5 >= end || !hex(b[i + 2]!) || !hex(b[i + 3]!) || !hex(b[i + 4]!) || !hex(b[i + 5]!)) return -1;
          i += 5;
        } else if (
          e === QUOTE ||
          e === BACKSLASH ||
          e === 0x2f ||
          e === 0x62 ||
          e === 0x66 ||
          e === 0x6e ||
          e === 0x72 ||
          e === 0x74
        ) {
          i++;
        } else return -1;
      } else {
        // Non-ASCII: a well-formed UTF-8 sequence, and not U+2028/U+2029 (a line
        // break to some readers; jsonColumn re-serialises those).
        const n = utf8Sequence(b, i, end);
        if (n === 0 || (c === 0xe2 && b[i + 1] === 0x80 && (b[i + 2] === 0xa8 || b[i + 2] === 0xa9))) return -1;
        i += n - 1;
      }
    }
    return -1;
  }

  private number(i: number): number {
    const { b, end } = this;
    if (b[i] === 0x2d) i++;
    if (i >= end) return -1;
    if (b[i] === 0x30) i++;
    else if (digit(b[i]!)) while (i < end && digit(b[i]!)) i++;
    else return -1;
    if (i < end && b[i] === 0x2e) {
      i++;
      if (i >= end || !digit(b[i]!)) return -1;
      while (i < end && digit(b[i]!)) i++;
    }
    if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
      i++;
      if (i < end && (b[i] === 0x2b || b[i] === 0x2d)) i++;
      if (i >= end || !digit(b[i]!)) return -1;
      while (i < end && digit(b[i]!)) i++;
    }
    return i;
  }

  private literal(i: number, word: readonly number[]): number {
    if (i + word.length > this.end) return -1;
    for (let k = 0; k < word.length; k++) if (this.b[i + k] !== word[k]) return -1;
    return i + word.length;
  }
}

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

function digit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hex(c: number): boolean {
  return digit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/** Length of the well-formed UTF-8 sequence at `i` (lead byte ≥ 0x80), or 0 (RFC 3629: no overlongs, no surrogates). */
function utf8Sequence(b: Uint8Array, i: number, end: number): number {
  const c = b[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < end && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/**
 * The same check for one field of every row of a batch, in one call to the
 * C version (packages/native, built at install): `out[r]` is 1 when row
 * `r`'s field is non-empty verbatim JSON. Several times faster than calling
 * `isVerbatimJson` per value; the tests hold the two to the same answers.
 */
export function verbatimJsonField(
  bytes: Uint8Array,
  index: Int32Array,
  count: number,
  field: number,
  out: Uint8Array = new Uint8Array(count),
): Uint8Array {
  native.verbatimJson(bytes, index, count, SLOTS, field, out);
  return out;
}

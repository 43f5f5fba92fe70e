/** A UTF-16 surrogate without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether `text` holds a lone surrogate: JSON can carry one (`"\ud800"`),
 * but it is no character. Encoded as UTF-8 it becomes U+FFFD, so an event
 * filter of one matched the events named U+FFFD, and no URL (so no S3 key)
 * can carry it.
 */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** The UTF-16 unit of the `\uXXXX` escape at `i` of `json`, or -1. */
function escapedUnit(json: string, i: number): number {
  if (json.charCodeAt(i + 1) !== 0x75) return -1;
  const hex = json.slice(i + 2, i + 6);
  return HEX4.test(hex) ? parseInt(hex, 16) : -1;
}

/**
 * Valid JSON text (as `jsonColumn` hands it) with each lone surrogate
 * escape (`"\ud800"`, a high one not followed by a low one, or a low one
 * alone) written `\ufffd`, everything else as written. JSON's grammar lets
 * such an escape through, but it is no character: strict parsers (DuckDB's
 * for a Parquet JSON column, JSONB) refuse the whole value, or the file.
 */
export function withoutLoneSurrogateEscapes(json: string): string {
  let out = '';
  let from = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (!inString) {
      if (c === QUOTE) inString = true;
    } else if (c === QUOTE) inString = false;
    else if (c === BACKSLASH) {
      const unit = escapedUnit(json, i);
      if (
        unit >= 0xd800 &&
        unit <= 0xdbff &&
        escapedUnit(json, i + 6) >= 0xdc00 &&
        escapedUnit(json, i + 6) <= 0xdfff
      ) {
        i += 11; // a pair: both escapes as they are
      } else if (unit >= 0xd800 && unit <= 0xdfff) {
        out += json.slice(from, i) + '\\ufffd';
        from = i + 6;
        i += 5;
      } else i += unit === -1 ? 1 : 5;
    }
  }
  return from === 0 ? json : out + json.slice(from);
}

const ESCAPE_U = Buffer.from('\\u');

/** Whether bytes `[start, end)` of `b` may hold a surrogate escape (`\ud800` to `\udfff`, pairs included): one search. */
export function mayHoldSurrogateEscape(b: Buffer, start: number, end: number): boolean {
  const range = b.subarray(start, end);
  for (let i = range.indexOf(ESCAPE_U); i !== -1 && i + 6 <= range.length; i = range.indexOf(ESCAPE_U, i + 2)) {
    if ((range[i + 2]! | 0x20) === 0x64) return true; // d or D
  }
  return false;
}

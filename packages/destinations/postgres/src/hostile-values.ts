import { jsonColumn } from '@bx/core';

/**
 * What becomes of values that ClickHouse stores and PostgreSQL refuses. No row
 * is ever dropped for them:
 * - text with invalid UTF-8: each bad sequence becomes U+FFFD (the WHATWG
 *   decoder's rule, as in the JSON Lines records);
 * - a NUL character in text, or `\u0000` in JSON (text and JSONB cannot hold
 *   it): U+FFFD;
 * - a lone surrogate escape in JSON (`"\ud800"`, which JSONB refuses): U+FFFD;
 * - a JSON number beyond the range of numeric (`1e999999`, JSONB's number
 *   type): its text as a JSON string (`"1e999999"`);
 * - JSON columns that are empty, not JSON or span lines: as in the records
 *   (`jsonColumn`): `null`, the text as a JSON string, the same value on one line;
 * - JSON nested deeper than MAX_JSON_DEPTH: the text as a JSON string.
 */
export const REPLACEMENT = '\uFFFD';

/**
 * Deepest JSON nesting stored as JSONB. PostgreSQL's JSON parser recurses
 * and refuses deeper values with 54001 (stack depth limit exceeded) where
 * its stack runs out: between 10,000 and 20,000 levels at the default
 * max_stack_depth of 2 MB, fewer on a server set lower.
 */
export const MAX_JSON_DEPTH = 1000;

const OPEN_ARRAY = 0x5b; // [
const OPEN_OBJECT = 0x7b; // {
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** What tooDeep reads: a byte range of a Buffer, or a string's UTF-16 code units (the brackets are ASCII in both). */
interface Units {
  indexOf(unit: number, from: number): number;
  at(i: number): number;
}

/**
 * Whether JSON text nests deeper than MAX_JSON_DEPTH (brackets in strings do
 * not count). A text with no more opening brackets than that cannot: a few
 * native searches settle nearly every value, and only a text with that many
 * brackets is walked unit by unit.
 */
function nestsTooDeep(units: Units, s: number, e: number): boolean {
  if (e - s <= 2 * MAX_JSON_DEPTH) return false;
  let brackets = 0;
  for (const open of [OPEN_ARRAY, OPEN_OBJECT]) {
    for (let i = units.indexOf(open, s); i !== -1 && i < e; i = units.indexOf(open, i + 1)) {
      if (++brackets > MAX_JSON_DEPTH) break;
    }
  }
  if (brackets <= MAX_JSON_DEPTH) return false;
  let depth = 0;
  let inString = false;
  for (let i = s; i < e; i++) {
    const u = units.at(i);
    if (inString) {
      // After a backslash comes the escaped unit, a quote included.
      if (u === BACKSLASH) i++;
      else if (u === QUOTE) inString = false;
    } else if (u === QUOTE) inString = true;
    else if (u === OPEN_ARRAY || u === OPEN_OBJECT) {
      if (++depth > MAX_JSON_DEPTH) return true;
    } else if (u === CLOSE_ARRAY || u === CLOSE_OBJECT) depth--;
  }
  return false;
}

/** Whether the JSON text `bytes[s, e)` nests deeper than MAX_JSON_DEPTH. */
export function tooDeep(bytes: Uint8Array, s: number, e: number): boolean {
  if (e - s <= 2 * MAX_JSON_DEPTH) return false;
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return nestsTooDeep({ indexOf: (u, from) => buf.indexOf(u, from), at: (i) => buf[i]! }, s, e);
}

function textTooDeep(text: string): boolean {
  if (text.length <= 2 * MAX_JSON_DEPTH) return false;
  const units: Units = {
    indexOf: (u, from) => text.indexOf(String.fromCharCode(u), from),
    at: (i) => text.charCodeAt(i),
  };
  return nestsTooDeep(units, 0, text.length);
}

/** Decoded text (already well-formed UTF-16) without NUL characters. */
export function textForPostgres(text: string): string {
  return text.includes('\0') ? text.replaceAll('\0', REPLACEMENT) : text;
}

// An escape JSONB refuses (\u0000, or a surrogate: checked further when found), or a number it may refuse.
const RISKY = /\\u(0000|d[89a-f])|[eE][+-]?0*[1-9]\d{4}|\d{6000}/i;

/** The JSON text to store for a JSON column's raw text: valid JSON that JSONB accepts. */
export function jsonForPostgres(text: string): string {
  if (textTooDeep(text)) return JSON.stringify(textForPostgres(wellFormed(text)));
  const json = jsonColumn(text);
  return RISKY.test(json) ? acceptedByJsonb(json) : json;
}

/** String.prototype.toWellFormed (Node 20; not in the ES2023 typings): lone surrogates become U+FFFD. */
const wellFormed = (s: string): string => (s as unknown as { toWellFormed(): string }).toWellFormed();

const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/**
 * Valid JSON text with what JSONB refuses replaced, the rest as written (never
 * parsed and written again, which would round big numbers): `\u0000` and a
 * lone surrogate escape become `\ufffd`, a number beyond numeric's range its
 * text as a JSON string.
 */
function acceptedByJsonb(json: string): string {
  let out = '';
  let from = 0;
  let inString = false;
  const replace = (i: number, end: number, by: string) => {
    out += json.slice(from, i) + by;
    from = end;
  };
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x22) inString = false;
      else if (c === BACKSLASH) {
        const unit = json[i + 1] === 'u' ? escapedUnit(json, i) : -1;
        if (unit === 0 || (unit >= 0xdc00 && unit <= 0xdfff)) replace(i, i + 6, '\\ufffd');
        else if (unit >= 0xd800 && unit <= 0xdbff) {
          const low = json.startsWith('\\u', i + 6) ? escapedUnit(json, i + 6) : -1;
          if (low >= 0xdc00 && low <= 0xdfff) i += 6;
          else replace(i, i + 6, '\\ufffd');
        }
        i += unit === -1 ? 1 : 5;
      }
    } else if (c === QUOTE) inString = true;
    else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const token = NUMBER.exec(json)![0];
      if (numericRefuses(token)) replace(i, i + token.length, `"${token}"`);
      i += token.length - 1;
    }
  }
  return out + json.slice(from);
}

/** The UTF-16 unit of the `\uXXXX` escape at `i`, or -1. */
function escapedUnit(json: string, i: number): number {
  const hex = json.slice(i + 2, i + 6);
  return HEX4.test(hex) ? parseInt(hex, 16) : -1;
}

/**
 * Whether PostgreSQL's numeric refuses a JSON number (22003, value overflows
 * numeric format): more than 131,072 digits before the point, or more than
 * 16,383 after it as written (the exponent moving the point).
 */
export function numericRefuses(token: string): boolean {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(token)!;
  const whole = m[1]!;
  const fraction = m[2] ?? '';
  const exponent = Number(m[3] ?? 0);
  if (!(Math.abs(exponent) < 1_073_741_823)) return true;
  if (fraction.length - exponent > 16_383) return true;
  const leading = whole.replace(/^0+/, '');
  const firstInFraction = fraction.search(/[1-9]/);
  if (!leading && firstInFraction === -1) return false; // zero
  // The place of the first digit that is not zero: 0 for units, -1 for tenths.
  const first = leading ? leading.length - 1 : -1 - firstInFraction;
  return first + exponent >= 131_072;
}

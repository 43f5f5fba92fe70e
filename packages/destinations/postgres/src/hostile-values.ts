import { jsonColumn } from '@bx/core';

/**
 * What becomes of values that ClickHouse stores and PostgreSQL refuses. No row
 * is ever dropped for them:
 * - text with invalid UTF-8: each bad sequence becomes U+FFFD (the WHATWG
 *   decoder's rule, as in the JSON Lines records);
 * - a NUL character in text, or `\u0000` in JSON (text and JSONB cannot hold
 *   it): U+FFFD;
 * - a lone surrogate escape in JSON (`"\ud800"`, which JSONB refuses): U+FFFD;
 * - JSON columns that are empty, not JSON or span lines: as in the records
 *   (`jsonColumn`): `null`, the text as a JSON string, the same value on one line.
 */
export const REPLACEMENT = '\uFFFD';

/** Decoded text (already well-formed UTF-16) without NUL characters. */
export function textForPostgres(text: string): string {
  return text.includes('\0') ? text.replaceAll('\0', REPLACEMENT) : text;
}

// An escape JSONB refuses: \u0000, or a surrogate (checked further when found).
const RISKY_ESCAPE = /\\u(0000|d[89a-f])/i;

/** The JSON text to store for a JSON column's raw text: valid JSON that JSONB accepts. */
export function jsonForPostgres(text: string): string {
  const json = jsonColumn(text);
  if (!RISKY_ESCAPE.test(json)) return json;
  return JSON.stringify(withoutRefusedCharacters(JSON.parse(json)));
}

/** String.prototype.toWellFormed (Node 20; not in the ES2023 typings): lone surrogates become U+FFFD. */
const wellFormed = (s: string): string => (s as unknown as { toWellFormed(): string }).toWellFormed();

/** `value` with every string (keys too) well-formed and free of NUL. */
function withoutRefusedCharacters(value: unknown): unknown {
  if (typeof value === 'string') return textForPostgres(wellFormed(value));
  if (Array.isArray(value)) return value.map(withoutRefusedCharacters);
  if (value !== null && typeof value === 'object') {
    // No prototype: a "__proto__" key stays a key.
    const out = Object.create(null) as Record<string, unknown>;
    for (const [key, inner] of Object.entries(value)) {
      out[textForPostgres(wellFormed(key))] = withoutRefusedCharacters(inner);
    }
    return out;
  }
  return value;
}

// Typed values and the conversions Snowflake applies when data is loaded or compared. Cells are
// stored in a per-type JS representation (TIMESTAMP_NTZ as bigint epoch nanoseconds so ordering
// and microsecond precision survive) and are encoded to the JSON result format the SDK decodes.
import { SqlError } from './lexer';

export type ColType = 'TEXT' | 'FIXED' | 'REAL' | 'BOOLEAN' | 'VARIANT' | 'TIMESTAMP_NTZ';
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Cell = null | string | number | boolean | bigint | { variant: Json };

export interface Column {
  name: string;
  type: ColType;
  declared: string; // type text as written, kept for CREATE TABLE ... LIKE and introspection
}

// Maps declared SQL types to the storage types the fake supports. Anything else (TIMESTAMP_TZ,
// DATE, BINARY, GEOGRAPHY...) is refused rather than approximated.
export function mapDeclaredType(t: string): ColType | undefined {
  const base = t.toUpperCase().replace(/\(.*$/, '').trim();
  if (['STRING', 'VARCHAR', 'TEXT', 'CHAR', 'CHARACTER', 'NVARCHAR', 'NCHAR'].includes(base)) {
    return 'TEXT';
  }
  if (['INTEGER', 'INT', 'BIGINT', 'SMALLINT', 'TINYINT', 'BYTEINT'].includes(base)) return 'FIXED';
  if (['NUMBER', 'NUMERIC', 'DECIMAL'].includes(base)) {
    const m = /,\s*(\d+)\s*\)/.exec(t);
    return m && Number(m[1]) > 0 ? undefined : 'FIXED'; // scaled decimals are not modelled
  }
  if (['FLOAT', 'FLOAT4', 'FLOAT8', 'DOUBLE', 'REAL'].includes(base)) return 'REAL';
  if (base === 'BOOLEAN') return 'BOOLEAN';
  if (['VARIANT', 'OBJECT', 'ARRAY'].includes(base)) return 'VARIANT';
  if (['TIMESTAMP', 'TIMESTAMP_NTZ', 'DATETIME'].includes(base)) return 'TIMESTAMP_NTZ';
  return undefined;
}

const castError = (what: string, v: string, code: string) =>
  new SqlError(code, '22018', `${what} '${v}' is not recognized`);

// Snowflake's AUTO timestamp detection, restricted to ISO-like inputs. For TIMESTAMP_NTZ a zone
// offset in the input is ignored (wall-clock time is kept), which is what Snowflake does too.
export function parseTimestamp(s: string): bigint {
  const m =
    /^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$/i.exec(
      s,
    );
  if (!m) {
    if (/^\s*-?\d+\s*$/.test(s)) return epochNumberToNs(Number(s));
    throw new SqlError('100035', '22007', `Timestamp '${s}' is not recognized`);
  }
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = ''] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec));
  if (Number.isNaN(ms)) throw new SqlError('100035', '22007', `Timestamp '${s}' is not recognized`);
  return BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(9, '0') || '0');
}

// Integers are interpreted by magnitude like Snowflake does: seconds, then ms, us, ns.
function epochNumberToNs(n: number): bigint {
  const a = Math.abs(n);
  if (a < 31536000000) return BigInt(Math.round(n * 1e6)) * 1000n;
  if (a < 31536000000000) return BigInt(Math.round(n)) * 1_000_000n;
  if (a < 31536000000000000) return BigInt(Math.round(n)) * 1000n;
  return BigInt(Math.round(n));
}

export function formatTimestamp(ns: bigint): string {
  const ms = Number(ns / 1_000_000n - (ns % 1_000_000n < 0n ? 1n : 0n));
  const sub = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const iso = new Date(ms).toISOString().slice(0, 19);
  const frac = sub.toString().padStart(9, '0').replace(/0+$/, '');
  return `${iso}${frac ? '.' + frac : ''}Z`;
}

function toNumber(v: Json, integer: boolean): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) n = Number(v);
  else throw castError('Numeric value', typeof v === 'string' ? v : JSON.stringify(v), '100038');
  // NUMBER(38,0) rounds half away from zero.
  return integer ? Math.sign(n) * Math.round(Math.abs(n)) : n;
}

// Converts a JSON value (from a loaded file, a literal or another column) to a column's storage.
export function coerce(v: Json | bigint, type: ColType): Cell {
  if (v === null) return null;
  if (typeof v === 'bigint') {
    if (type === 'TIMESTAMP_NTZ') return v;
    if (type === 'TEXT') return formatTimestamp(v).replace('T', ' ').replace('Z', '');
    if (type === 'VARIANT') return { variant: formatTimestamp(v).replace('Z', '') };
    throw new SqlError('002023', '22000', `Expression type does not match column data type`);
  }
  switch (type) {
    case 'VARIANT':
      return { variant: v };
    case 'TEXT':
      return typeof v === 'string' ? v : JSON.stringify(v);
    case 'FIXED':
      return toNumber(typeof v === 'boolean' ? JSON.stringify(v) : v, true);
    case 'REAL':
      return toNumber(v, false);
    case 'BOOLEAN':
      if (typeof v === 'boolean') return v;
      if (typeof v === 'number') return v !== 0;
      if (typeof v === 'string' && /^(true|t|yes|y|on|1)$/i.test(v.trim())) return true;
      if (typeof v === 'string' && /^(false|f|no|n|off|0)$/i.test(v.trim())) return false;
      throw castError('Boolean value', String(v), '100037');
    case 'TIMESTAMP_NTZ':
      if (typeof v === 'string') return parseTimestamp(v);
      if (typeof v === 'number') return epochNumberToNs(v);
      throw new SqlError('100035', '22007', `Timestamp '${JSON.stringify(v)}' is not recognized`);
  }
}

// A cell seen from an expression: its storage plus the column type it came from (or, for
// literals, a loose type so that '2024-01-01' can be compared with a TIMESTAMP column).
export interface Typed {
  type: ColType | 'NULL' | 'LITERAL';
  v: Cell | Json;
}

const plain = (c: Cell | Json): Json | bigint =>
  c !== null && typeof c === 'object' && 'variant' in c && !Array.isArray(c)
    ? (c as { variant: Json }).variant
    : (c as Json | bigint);

// Three-valued comparison: undefined means NULL (unknown), otherwise -1/0/1.
export function compare(a: Typed, b: Typed): number | undefined {
  if (a.v === null || b.v === null || a.type === 'NULL' || b.type === 'NULL') return undefined;
  const target: ColType = a.type !== 'LITERAL' ? a.type : b.type !== 'LITERAL' ? b.type : guessType(a.v);
  const x = coerce(plain(a.v), target);
  const y = coerce(plain(b.v), target);
  if (x === null || y === null) return undefined;
  if (target === 'VARIANT') {
    const [sx, sy] = [JSON.stringify(plain(x)), JSON.stringify(plain(y))];
    return sx === sy ? 0 : sx < sy ? -1 : 1;
  }
  return x === y ? 0 : (x as number) < (y as number) ? -1 : 1;
}

export function guessType(v: Cell | Json): ColType {
  if (typeof v === 'bigint') return 'TIMESTAMP_NTZ';
  if (typeof v === 'number') return Number.isInteger(v) ? 'FIXED' : 'REAL';
  if (typeof v === 'boolean') return 'BOOLEAN';
  if (typeof v === 'string') return 'TEXT';
  return 'VARIANT';
}

export function toJsonValue(t: Typed): Json | bigint {
  return t.v === null ? null : plain(t.v);
}

// JSON result-format encoding (queryResultFormat "json"): everything is a string; timestamps are
// "<epoch seconds>.<9 digit fraction>" with scale 9; variants are pretty-printed JSON.
export function encodeCell(c: Cell, type: ColType): string | null {
  if (c === null) return null;
  switch (type) {
    case 'TIMESTAMP_NTZ': {
      const ns = c as bigint;
      const neg = ns < 0n;
      const a = neg ? -ns : ns;
      return `${neg ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`;
    }
    case 'VARIANT':
      return JSON.stringify((c as { variant: Json }).variant, null, 2);
    case 'BOOLEAN':
      return c ? '1' : '0';
    default:
      return String(c);
  }
}

export function rowTypeFor(name: string, type: ColType, nullable = true): Record<string, unknown> {
  const base = { name, database: '', schema: '', table: '', nullable, collation: null };
  switch (type) {
    case 'TEXT':
      return {
        ...base,
        type: 'text',
        length: 16777216,
        byteLength: 16777216,
        precision: null,
        scale: null,
      };
    case 'FIXED':
      return { ...base, type: 'fixed', length: null, byteLength: null, precision: 38, scale: 0 };
    case 'REAL':
      return {
        ...base,
        type: 'real',
        length: null,
        byteLength: null,
        precision: null,
        scale: null,
      };
    case 'BOOLEAN':
      return {
        ...base,
        type: 'boolean',
        length: null,
        byteLength: null,
        precision: null,
        scale: null,
      };
    case 'VARIANT':
      return {
        ...base,
        type: 'variant',
        length: 16777216,
        byteLength: 16777216,
        precision: null,
        scale: null,
      };
    case 'TIMESTAMP_NTZ':
      return {
        ...base,
        type: 'timestamp_ntz',
        length: null,
        byteLength: null,
        precision: 0,
        scale: 9,
      };
  }
}

// How the test process sees stored cells: plain JSON-ish values, timestamps as ISO strings.
export function cellForTest(c: Cell): unknown {
  if (typeof c === 'bigint') return formatTimestamp(c);
  if (c !== null && typeof c === 'object') return c.variant;
  return c;
}

/**
 * The first key an object of valid JSON `text` has twice (after unescaping:
 * `"a"` and `"\u0061"` are one key), if any. Snowflake's JSON parser refuses
 * such a document unless the file format says ALLOW_DUPLICATE = TRUE (then
 * the last value is kept, as JSON.parse keeps it).
 */
export function duplicateKey(text: string): string | undefined {
  const objects: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        const keys = objects[objects.length - 1]!;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) {
      objects.push(new Set());
      expectKey = true;
    } else if (c === 0x5b) objects.push(null);
    else if (c === 0x7d || c === 0x5d) objects.pop();
    else if (c === 0x2c) expectKey = objects[objects.length - 1] != null;
  }
  return undefined;
}

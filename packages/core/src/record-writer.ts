import { Field } from './event-fields';

/**
 * Writes the contract's JSON Lines record of a row from its field bytes, the
 * same bytes `toRecordLine` writes: strings escaped byte by byte as
 * JSON.stringify escapes them, JSON columns copied when they are valid JSON on
 * one line, never decoded, parsed and re-serialised.
 */

const ascii = (text: string) => Buffer.from(text, 'latin1');
const K_UUID = ascii('{"uuid":');
const K_EVENT = ascii(',"event":');
const K_PROPERTIES = ascii(',"properties":');
const K_DISTINCT_ID = ascii(',"distinct_id":');
const K_TEAM_ID = ascii(',"team_id":');
const K_TIMESTAMP = ascii(',"timestamp":');
const K_CREATED_AT = ascii(',"created_at":');
const K_INSERTED_AT = ascii(',"inserted_at":');
const K_ELEMENTS_CHAIN = ascii(',"elements_chain":');
const K_PERSON_ID = ascii(',"person_id":');
const K_PERSON_PROPERTIES = ascii(',"person_properties":');
const K_END = ascii('}\n');
const NULL = ascii('null');
const ISO_OFFSET = ascii('+00:00"');
const HEX = ascii('0123456789abcdef');

/** Upper bound of a record's bytes beyond its fields' own. */
export const ROW_OVERHEAD = 256;

/** What JSON.stringify writes after `\` for bytes below 0x20, `"` and `\`; 0 for bytes it copies. */
const ESCAPE = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) ESCAPE[c] = 0x75; // \u00XX
ESCAPE[0x08] = 0x62;
ESCAPE[0x09] = 0x74;
ESCAPE[0x0a] = 0x6e;
ESCAPE[0x0c] = 0x66;
ESCAPE[0x0d] = 0x72;
ESCAPE[0x22] = 0x22;
ESCAPE[0x5c] = 0x5c;

/**
 * Writes row `slot` of a batch at `w.o`; false (with `w.o` past partial output)
 * when the row needs `toRecordLine`: a JSON column to normalise, or a
 * timestamp not in ClickHouse's text form. The caller ensures room for the
 * row, its string bytes escaped 6-fold.
 */
export function writeRecord(
  w: RecordWriter,
  b: Buffer,
  index: Int32Array,
  slot: number,
  propertiesVerbatim: boolean,
  personPropertiesVerbatim: boolean,
): boolean {
  const i = index;
  const x = slot; // field f spans i[x + 2f] .. i[x + 2f + 1]
  w.put(K_UUID);
  w.string(b, i[x + 2 * UUID]!, i[x + 2 * UUID + 1]!);
  w.put(K_EVENT);
  w.string(b, i[x + 2 * EVENT]!, i[x + 2 * EVENT + 1]!);
  w.put(K_PROPERTIES);
  if (!w.json(b, i[x + 2 * PROPERTIES]!, i[x + 2 * PROPERTIES + 1]!, propertiesVerbatim)) return false;
  w.put(K_DISTINCT_ID);
  w.string(b, i[x + 2 * DISTINCT_ID]!, i[x + 2 * DISTINCT_ID + 1]!);
  w.put(K_TEAM_ID);
  w.int64(b, i[x + 2 * TEAM_ID]!);
  w.put(K_TIMESTAMP);
  if (!w.timestamp(b, i[x + 2 * TIMESTAMP]!, i[x + 2 * TIMESTAMP + 1]!)) return false;
  w.put(K_CREATED_AT);
  if (!w.timestamp(b, i[x + 2 * CREATED_AT]!, i[x + 2 * CREATED_AT + 1]!)) return false;
  w.put(K_INSERTED_AT);
  if (i[x + 2 * INSERTED_AT] === -1) w.put(NULL);
  else if (!w.timestamp(b, i[x + 2 * INSERTED_AT]!, i[x + 2 * INSERTED_AT + 1]!)) return false;
  w.put(K_ELEMENTS_CHAIN);
  w.string(b, i[x + 2 * ELEMENTS_CHAIN]!, i[x + 2 * ELEMENTS_CHAIN + 1]!);
  w.put(K_PERSON_ID);
  w.string(b, i[x + 2 * PERSON_ID]!, i[x + 2 * PERSON_ID + 1]!);
  w.put(K_PERSON_PROPERTIES);
  if (!w.json(b, i[x + 2 * PERSON_PROPERTIES]!, i[x + 2 * PERSON_PROPERTIES + 1]!, personPropertiesVerbatim))
    return false;
  w.put(K_END);
  return true;
}

const {
  uuid: UUID,
  event: EVENT,
  properties: PROPERTIES,
  distinct_id: DISTINCT_ID,
  team_id: TEAM_ID,
  timestamp: TIMESTAMP,
  created_at: CREATED_AT,
  inserted_at: INSERTED_AT,
  elements_chain: ELEMENTS_CHAIN,
  person_id: PERSON_ID,
  person_properties: PERSON_PROPERTIES,
} = Field;

/** An output buffer of records that grows as needed. */
export class RecordWriter {
  out: Buffer;
  o = 0;

  constructor(size: number) {
    this.out = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.o + n <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.o + n, this.out.length * 2));
    this.out.copy(grown, 0, 0, this.o);
    this.out = grown;
  }

  put(bytes: Buffer): void {
    const { out } = this;
    let o = this.o;
    for (let i = 0; i < bytes.length; i++) out[o++] = bytes[i]!;
    this.o = o;
  }

  /** A string's bytes escaped as JSON.stringify escapes them (UTF-8 passes through). */
  string(b: Buffer, s: number, e: number): void {
    const { out } = this;
    let o = this.o;
    out[o++] = 0x22;
    for (let i = s; i < e; i++) {
      const c = b[i]!;
      const x = ESCAPE[c]!;
      if (x === 0) {
        out[o++] = c;
        continue;
      }
      out[o++] = 0x5c;
      out[o++] = x;
      if (x === 0x75) {
        out[o++] = 0x30;
        out[o++] = 0x30;
        out[o++] = HEX[c >> 4]!;
        out[o++] = HEX[c & 15]!;
      }
    }
    out[o++] = 0x22;
    this.o = o;
  }

  /** A JSON column: `null` when empty, the text itself when `verbatim` (checked by the caller); false otherwise. */
  json(b: Buffer, s: number, e: number, verbatim: boolean): boolean {
    if (s === e) {
      this.put(NULL);
      return true;
    }
    if (!verbatim) return false;
    this.out.set(b.subarray(s, e), this.o);
    this.o += e - s;
    return true;
  }

  /** `YYYY-MM-DD hh:mm:ss[.ffffff]` → `"YYYY-MM-DDThh:mm:ss[.ffffff]+00:00"`; false for another form. */
  timestamp(b: Buffer, s: number, e: number): boolean {
    if (e - s < 19 || b[s + 10] !== 0x20) return false;
    const { out } = this;
    let o = this.o;
    out[o++] = 0x22;
    for (let i = s; i < e; i++) out[o++] = b[i]!;
    out[o - (e - s) + 10] = 0x54; // 'T'
    this.o = o;
    this.put(ISO_OFFSET);
    return true;
  }

  /** A little-endian Int64 as decimal digits, exact beyond 2^53. */
  int64(b: Buffer, s: number): void {
    const lo = b.readUInt32LE(s);
    const hi = b.readInt32LE(s + 4);
    const digits = hi >= -0x200000 && hi < 0x200000 ? String(hi * TWO_32 + lo) : b.readBigInt64LE(s).toString();
    const { out } = this;
    let o = this.o;
    for (let i = 0; i < digits.length; i++) out[o++] = digits.charCodeAt(i);
    this.o = o;
  }
}

const TWO_32 = 2 ** 32;

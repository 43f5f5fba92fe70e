/** One row of the events query as values to encode (strings may be raw bytes, e.g. invalid UTF-8). */
export interface WireRow {
  uuid: string;
  event: string | Buffer;
  properties: string | Buffer;
  distinct_id: string | Buffer;
  team_id: bigint;
  timestamp: string;
  created_at: string;
  inserted_at: string | null;
  elements_chain: string | Buffer;
  person_id: string;
  person_properties: string | Buffer;
}

function str(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const len: number[] = [];
  let n = bytes.length;
  do {
    len.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return Buffer.concat([Buffer.from(len), bytes]);
}

/** A UUID's text as ClickHouse's RowBinary writes the UUID: two little-endian UInt64, the high half first. */
export function uuidBinary(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  return Buffer.concat([Buffer.from(hex.slice(0, 16), 'hex').reverse(), Buffer.from(hex.slice(16), 'hex').reverse()]);
}

/** `YYYY-MM-DD hh:mm:ss[.f…]` (UTC) as ticks of 10^-scale s (digits past the scale dropped, rounding down). */
export function timeTicks(text: string, scale: number): bigint {
  const [whole, fraction = ''] = text.split('.');
  const seconds = BigInt(Math.floor(Date.parse(`${whole!.replace(' ', 'T')}Z`) / 1000));
  const unit = 10n ** BigInt(scale);
  return seconds * unit + BigInt((fraction + '0'.repeat(scale)).slice(0, scale) || '0');
}

/**
 * How the rows are encoded (the batch layout's encodings, see
 * FieldEncoding): text, or binary UUIDs, DateTime (`0`) or DateTime64
 * (scale) timestamps.
 */
export interface WireEncoding {
  uuid?: 'text' | 'binary';
  time?: 'text' | number | 'datetime';
}

/** `FORMAT RowBinary` bytes of rows in the events query's column order, as ClickHouse writes them. */
export function encodeRowBinary(rows: WireRow[], encoding: WireEncoding = {}): Buffer {
  const parts: Buffer[] = [];
  const uuid = (text: string) => (encoding.uuid === 'binary' ? uuidBinary(text) : str(text));
  const time = (text: string) => {
    const t = encoding.time ?? 'text';
    if (t === 'text') return str(text);
    const b = Buffer.alloc(t === 'datetime' ? 4 : 8);
    if (t === 'datetime') b.writeUInt32LE(Number(timeTicks(text, 0)));
    else b.writeBigInt64LE(timeTicks(text, t));
    return b;
  };
  for (const r of rows) {
    const team = Buffer.alloc(8);
    team.writeBigInt64LE(r.team_id);
    parts.push(
      uuid(r.uuid),
      str(r.event),
      str(r.properties),
      str(r.distinct_id),
      team,
      time(r.timestamp),
      time(r.created_at),
      r.inserted_at === null ? Buffer.from([1]) : Buffer.concat([Buffer.from([0]), time(r.inserted_at)]),
      str(r.elements_chain),
      uuid(r.person_id),
      str(r.person_properties),
    );
  }
  return Buffer.concat(parts);
}

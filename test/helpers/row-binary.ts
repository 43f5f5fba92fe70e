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

/** `FORMAT RowBinary` bytes of rows in the events query's column order, as ClickHouse writes them. */
export function encodeRowBinary(rows: WireRow[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of rows) {
    const team = Buffer.alloc(8);
    team.writeBigInt64LE(r.team_id);
    parts.push(
      str(r.uuid),
      str(r.event),
      str(r.properties),
      str(r.distinct_id),
      team,
      str(r.timestamp),
      str(r.created_at),
      r.inserted_at === null ? Buffer.from([1]) : Buffer.concat([Buffer.from([0]), str(r.inserted_at)]),
      str(r.elements_chain),
      str(r.person_id),
      str(r.person_properties),
    );
  }
  return Buffer.concat(parts);
}

import * as native from '@bx/native';
import { FIELDS, Field, FieldEncoding, SLOTS, TEXT_LAYOUT } from './event-fields';
import { EVENT_RECORD_COLUMNS, toRecordLine, type EventRow } from '@bx/core';
import type { BatchFormat, RecordBatch } from './batch-format';
import { verbatimJsonField } from './json-bytes';
import { grown, sliceRows, writeRecordLines } from './record-lines';

const FIELD_NAMES = Object.keys(Field) as Array<keyof typeof Field>;

/**
 * A batch of events as bytes (a RecordBatch of the events model): one
 * buffer and the start and end of every field of every row in it. The
 * ClickHouse source frames its wire bytes into batches without decoding
 * them; destinations take what they need: JSON Lines writers `records()`,
 * written from the bytes in C; Parquet the field bytes; tests `rows()`.
 */
export class EventBatch implements RecordBatch {
  /** Rows the last `records()` wrote through `toRecordLine` (a JSON column to normalise): for tests and profiling. */
  exactRows = 0;

  constructor(
    readonly bytes: Buffer,
    readonly index: Int32Array,
    readonly count: number,
    /** How each field is encoded (FieldEncoding by field): UUIDs and timestamps may be ClickHouse's binary. */
    readonly layout: Readonly<Uint8Array> = TEXT_LAYOUT,
  ) {}

  /** A batch of rows held as objects (tests, and the exact path). */
  static fromRows(rows: readonly EventRow[]): EventBatch {
    const parts: Buffer[] = [];
    const index = new Int32Array(rows.length * SLOTS);
    let at = 0;
    rows.forEach((row, r) => {
      for (let f = 0; f < FIELDS; f++) {
        const name = FIELD_NAMES[f]!;
        let part: Buffer;
        if (f === Field.team_id) {
          part = Buffer.alloc(8);
          part.writeBigInt64LE(BigInt(row.team_id));
        } else {
          const value = row[name] as string | null;
          if (value === null) {
            index[r * SLOTS + 2 * f] = -1;
            index[r * SLOTS + 2 * f + 1] = -1;
            continue;
          }
          part = Buffer.from(value);
        }
        index[r * SLOTS + 2 * f] = at;
        index[r * SLOTS + 2 * f + 1] = at + part.length;
        parts.push(part);
        at += part.length;
      }
    });
    return new EventBatch(Buffer.concat(parts, at), index, rows.length);
  }

  get format(): BatchFormat<EventBatch> {
    return this.layout === TEXT_LAYOUT ? EVENTS_FORMAT : eventsFormat(this.layout);
  }

  /**
   * Rows `[from, to)` as a batch of their own, on this batch's memory (no
   * copy of the field bytes; the index is copied and rebased): a writer that
   * must cut a batch, as a file size limit does.
   */
  slice(from: number, to: number): EventBatch {
    const { bytes, index } = sliceRows(this.bytes, this.index, SLOTS, from, to);
    return new EventBatch(bytes, index, to - from, this.layout);
  }

  start(r: number, f: number): number {
    return this.index[r * SLOTS + 2 * f]!;
  }

  end(r: number, f: number): number {
    return this.index[r * SLOTS + 2 * f + 1]!;
  }

  /**
   * The contract's JSON Lines records of rows `from`.., each ending in `\n`,
   * as UTF-8: the same bytes as `toRecordLine`, written from the field bytes
   * in C (packages/native/src/records.c). A row whose JSON column must be
   * normalised, or whose text is not well-formed UTF-8 (written with U+FFFD
   * for the bad bytes), takes `toRecordLine` itself.
   */
  records(from = 0): Buffer {
    // Binary UUIDs and timestamps take about 120 bytes a row more as text.
    const perRow = ROW_OVERHEAD + (this.layout === TEXT_LAYOUT ? 0 : 128);
    const initial: Buffer = Buffer.allocUnsafeSlow(this.bytes.length + (this.count - from) * perRow);
    const { out, length } = this.writeLines(initial, from, (buf, used, n) => grown(buf, used, n));
    return out.subarray(0, length);
  }

  /**
   * `records(from)` written into `target` (memory the caller reuses, shared
   * with a compression thread) from its start, as many rows as surely fit:
   * answers the row after the last one written (`from` when none fits) and
   * the bytes written.
   */
  recordsInto(target: Uint8Array, from = 0): { next: number; bytes: number } {
    const { next, length } = this.writeLines(target, from, (buf, used, n) => (used + n <= buf.length ? buf : null));
    return { next, bytes: length };
  }

  /** Writes the records of rows `from`.. into `out` (see writeRecordLines). */
  private writeLines<B extends Uint8Array>(
    out: B,
    from: number,
    room: (out: B, used: number, n: number) => B | null,
  ): { out: B; length: number; next: number } {
    const { bytes, index, count, layout } = this;
    const written = writeRecordLines(
      {
        write: (buf, state) => native.writeRecords(bytes, index, count, SLOTS, buf, state, layout as Uint8Array),
        exactLine: (r) => toRecordLine(this.row(r)) + '\n',
        // Room for the row even if every string byte must be escaped (\u00XX: 6 bytes).
        room: (r) => ROW_OVERHEAD + 6 * this.rowBytes(r * SLOTS),
      },
      out,
      from,
      count,
      room,
    );
    this.exactRows = written.exactRows;
    return written;
  }

  /** Whether the text fields among `fields` of every row are well-formed UTF-8 (nulls skipped); checked in C. */
  utf8(fields: Uint8Array): boolean {
    const text = this.layout === TEXT_LAYOUT ? fields : fields.filter((f) => this.layout[f] === FieldEncoding.TEXT);
    return native.utf8Fields(this.bytes, this.index, this.count, SLOTS, text);
  }

  /** Per row, 1 when the JSON column `field` is non-empty verbatim JSON (see `verbatimJsonField`), else 0. */
  verbatimJson(field: number): Uint8Array {
    return verbatimJsonField(this.bytes, this.index, this.count, field);
  }

  rows(): EventRow[] {
    const rows = new Array<EventRow>(this.count);
    for (let r = 0; r < this.count; r++) rows[r] = this.row(r);
    return rows;
  }

  /** One row decoded into strings (team_id as decimal text; binary UUIDs and timestamps as ClickHouse writes them). */
  row(r: number): EventRow {
    const text = (f: number) =>
      this.layout[f] === FieldEncoding.TEXT
        ? this.bytes.toString('utf8', this.start(r, f), this.end(r, f))
        : binaryText(this.bytes, this.start(r, f), this.end(r, f), this.layout[f]!);
    return {
      uuid: text(Field.uuid),
      event: text(Field.event),
      properties: text(Field.properties),
      distinct_id: text(Field.distinct_id),
      team_id: this.bytes.readBigInt64LE(this.start(r, Field.team_id)).toString(),
      timestamp: text(Field.timestamp),
      created_at: text(Field.created_at),
      inserted_at: this.start(r, Field.inserted_at) === -1 ? null : text(Field.inserted_at),
      elements_chain: text(Field.elements_chain),
      person_id: text(Field.person_id),
      person_properties: text(Field.person_properties),
    };
  }

  private rowBytes(slot: number): number {
    let n = 0;
    for (let f = 0; f < FIELDS; f++) n += Math.max(0, this.index[slot + 2 * f + 1]! - this.index[slot + 2 * f]!);
    return n;
  }
}

/**
 * A binary UUID, DateTime or DateTime64 (`encoding`) as toString() writes
 * it in UTC (the C writer's text, packages/native/src/binary_text.c).
 */
export function binaryText(b: Buffer, s: number, e: number, encoding: number): string {
  if (encoding === FieldEncoding.UUID) {
    const hex =
      Buffer.from(b.subarray(s, s + 8))
        .reverse()
        .toString('hex') +
      Buffer.from(b.subarray(s + 8, e))
        .reverse()
        .toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  const scale = encoding >> 4;
  const ticks = (encoding & 0x0f) === FieldEncoding.DATE_TIME ? BigInt(b.readUInt32LE(s)) : b.readBigInt64LE(s);
  const unit = 10n ** BigInt(scale);
  let seconds = ticks / unit;
  let fraction = ticks % unit;
  if (fraction < 0n) {
    seconds -= 1n;
    fraction += unit;
  }
  const text = new Date(Number(seconds) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return scale === 0 ? text : `${text}.${fraction.toString().padStart(scale, '0')}`;
}

/** The events model's batches, their fields encoded as `layout` says: EventBatch, its records written in C. */
export function eventsFormat(layout: Readonly<Uint8Array> = TEXT_LAYOUT): BatchFormat<EventBatch> {
  const key = layout.join(',');
  let format = FORMATS.get(key);
  if (!format) {
    const own = layout === TEXT_LAYOUT ? TEXT_LAYOUT : Uint8Array.from(layout);
    format = {
      columns: EVENT_RECORD_COLUMNS,
      slots: SLOTS,
      layout: own,
      batch: (bytes, index, count) => new EventBatch(bytes, index, count, own),
    };
    FORMATS.set(key, format);
  }
  return format;
}

/** One format per layout, so that formats compare by identity (a handful of layouts at most). */
const FORMATS = new Map<string, BatchFormat<EventBatch>>();

/** The events model's batches with every field text: EventBatch, its records written in C. */
export const EVENTS_FORMAT: BatchFormat<EventBatch> = eventsFormat(TEXT_LAYOUT);

/** Upper bound of a record's bytes beyond its fields' own (the C writer assumes the same). */
const ROW_OVERHEAD = 256;

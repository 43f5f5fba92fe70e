import * as native from '@bx/native';
import { FIELDS, Field, SLOTS } from './event-fields';
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

  get format(): BatchFormat {
    return EVENTS_FORMAT;
  }

  /**
   * Rows `[from, to)` as a batch of their own, on this batch's memory (no
   * copy of the field bytes; the index is copied and rebased): a writer that
   * must cut a batch, as a file size limit does.
   */
  slice(from: number, to: number): EventBatch {
    const { bytes, index } = sliceRows(this.bytes, this.index, SLOTS, from, to);
    return new EventBatch(bytes, index, to - from);
  }

  start(r: number, f: number): number {
    return this.index[r * SLOTS + 2 * f]!;
  }

  end(r: number, f: number): number {
    return this.index[r * SLOTS + 2 * f + 1]!;
  }

  /**
   * The contract's JSON Lines records, one per row, each ending in `\n`, as
   * UTF-8: the same bytes as `toRecordLine`, written from the field bytes in
   * C (packages/native/src/records.c). A row whose JSON column must be
   * normalised, or whose text is not well-formed UTF-8 (written with U+FFFD
   * for the bad bytes), takes `toRecordLine` itself.
   */
  records(): Buffer {
    const initial: Buffer = Buffer.allocUnsafeSlow(this.bytes.length + this.count * ROW_OVERHEAD);
    const { out, length } = this.writeLines(initial, (buf, used, n) => grown(buf, used, n))!;
    return out.subarray(0, length);
  }

  /**
   * `records()` written into `target` (memory the caller reuses, shared with
   * a compression thread): the bytes written, or -1 when they might not fit.
   * Then `records()` is the way, and `target` holds nothing of use.
   */
  recordsInto(target: Uint8Array): number {
    const written = this.writeLines(target, (buf, used, n) => (used + n <= buf.length ? buf : null));
    return written ? written.length : -1;
  }

  /** Writes the records into `out` (see writeRecordLines). */
  private writeLines<B extends Uint8Array>(
    out: B,
    room: (out: B, used: number, n: number) => B | null,
  ): { out: B; length: number } | null {
    const { bytes, index, count } = this;
    const written = writeRecordLines(
      {
        write: (buf, state) => native.writeRecords(bytes, index, count, SLOTS, buf, state),
        exactLine: (r) => toRecordLine(this.row(r)) + '\n',
        // Room for the row even if every string byte must be escaped (\u00XX: 6 bytes).
        room: (r) => ROW_OVERHEAD + 6 * this.rowBytes(r * SLOTS),
      },
      out,
      room,
    );
    this.exactRows = written?.exactRows ?? 0;
    return written;
  }

  /** Whether fields `fields` of every row are well-formed UTF-8 (nulls skipped); checked in C. */
  utf8(fields: Uint8Array): boolean {
    return native.utf8Fields(this.bytes, this.index, this.count, SLOTS, fields);
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

  /** One row decoded into strings (team_id as decimal text). */
  row(r: number): EventRow {
    const text = (f: number) => this.bytes.toString('utf8', this.start(r, f), this.end(r, f));
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

/** The events model's batches: EventBatch, its records written in C. */
export const EVENTS_FORMAT: BatchFormat<EventBatch> = {
  columns: EVENT_RECORD_COLUMNS,
  slots: SLOTS,
  batch: (bytes, index, count) => new EventBatch(bytes, index, count),
};

/** Upper bound of a record's bytes beyond its fields' own (the C writer assumes the same). */
const ROW_OVERHEAD = 256;

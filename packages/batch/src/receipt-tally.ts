import * as native from '@bx/native';
import { EVENTS_SCHEMA, isoTimestamp, type ModelReceipt, type RunReceipt } from '@bx/core';
import type { BatchFormat, RecordBatch } from './batch-format';
import { binaryText } from './event-batch';
import { FieldEncoding } from './event-fields';

/** Where a receipt's columns are in a format's rows: `key` summed into the checksum, `time` bounded by min and max. */
interface ReceiptFields {
  format: BatchFormat;
  key: number;
  time: number;
  /** How each is encoded in the format's layout (FieldEncoding): a binary UUID is hashed as its text. */
  keyEncoding: number;
  timeEncoding: number;
}

/**
 * The receipt of the rows of one attempt, tallied batch by batch as they
 * reach the writer (contract: Receipts): rows, the sum modulo 2^64 of
 * sipHash64 of each key, the least and greatest time. The hashing runs in C
 * per batch (packages/native/src/siphash.c), about 30 ns a row: 6 ms of
 * main-thread time for 200,000 rows, below the benchmark's noise.
 */
export class ReceiptTally {
  records = 0;
  private readonly sum = new BigUint64Array(1);
  private readonly rows = new Int32Array(2);
  private min: string | null = null;
  private max: string | null = null;

  private fields: ReceiptFields | null = null;

  /** `columns`: the model's receipt columns (events: uuid and inserted_at). */
  constructor(private readonly columns: ModelReceipt = EVENTS_SCHEMA.receipt) {}

  /** Counts a batch; call it before the batch's memory is reused. */
  add(batch: RecordBatch): void {
    if (batch.count === 0) return;
    const { key, time, keyEncoding, timeEncoding } = this.fieldsOf(batch.format);
    native.receiptTally(
      batch.bytes,
      batch.index,
      batch.count,
      batch.format.slots,
      key,
      keyEncoding,
      time,
      timeEncoding,
      this.sum,
      this.rows,
    );
    this.records += batch.count;
    const [least, greatest] = this.rows as unknown as [number, number];
    const text = (r: number) =>
      timeEncoding === FieldEncoding.TEXT
        ? batch.bytes.toString('latin1', batch.start(r, time), batch.end(r, time))
        : binaryText(batch.bytes, batch.start(r, time), batch.end(r, time), timeEncoding);
    if (least >= 0) {
      const lo = text(least);
      if (this.min === null || lo < this.min) this.min = lo;
    }
    if (greatest >= 0) {
      const hi = text(greatest);
      if (this.max === null || hi > this.max) this.max = hi;
    }
  }

  /** The columns of the receipt in `format`'s rows, found once per format. */
  private fieldsOf(format: BatchFormat): ReceiptFields {
    if (this.fields?.format === format) return this.fields;
    const at = (name: string) => {
      const c = format.columns.findIndex((column) => column.name === name);
      if (c < 0) throw new RangeError(`the receipt's column ${name} is not among the records' columns`);
      return c;
    };
    const key = at(this.columns.key);
    const time = at(this.columns.time);
    const encoding = (c: number) => format.layout?.[c] ?? FieldEncoding.TEXT;
    this.fields = { format, key, time, keyEncoding: encoding(key), timeEncoding: encoding(time) };
    return this.fields;
  }

  /** The receipt of the rows counted so far. */
  receipt(files: readonly string[], version: number): RunReceipt {
    return {
      records: this.records,
      checksum: this.sum[0]!.toString(),
      min_inserted_at: isoTimestamp(this.min),
      max_inserted_at: isoTimestamp(this.max),
      files: [...files],
      version,
    };
  }
}

/** The batches unchanged, each counted in `tally` as it passes on to the writer. */
export async function* tallied<B extends RecordBatch>(
  batches: AsyncIterable<B>,
  tally: ReceiptTally,
): AsyncGenerator<B> {
  for await (const batch of batches) {
    tally.add(batch);
    yield batch;
  }
}

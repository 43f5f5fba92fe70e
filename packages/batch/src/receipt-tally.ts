import * as native from '@bx/native';
import { isoTimestamp, type RunReceipt } from '@bx/core';
import type { EventBatch } from './event-batch';
import { Field, SLOTS } from './event-fields';

/** The fields of a model's rows a receipt is over: `key` summed into the checksum, `time` bounded by min and max. */
export interface ReceiptFields {
  key: number;
  time: number;
  /** Int32 slots per row in the batch index. */
  slots: number;
}

/** Events: the checksum is over `uuid`, the bounds over `inserted_at`. */
export const EVENT_RECEIPT_FIELDS: ReceiptFields = { key: Field.uuid, time: Field.inserted_at, slots: SLOTS };

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

  constructor(private readonly fields: ReceiptFields = EVENT_RECEIPT_FIELDS) {}

  /** Counts a batch; call it before the batch's memory is reused. */
  add(batch: EventBatch): void {
    if (batch.count === 0) return;
    const { key, time, slots } = this.fields;
    native.receiptTally(batch.bytes, batch.index, batch.count, slots, key, time, this.sum, this.rows);
    this.records += batch.count;
    const [least, greatest] = this.rows as unknown as [number, number];
    if (least >= 0) {
      const text = batch.bytes.toString('latin1', batch.start(least, time), batch.end(least, time));
      if (this.min === null || text < this.min) this.min = text;
    }
    if (greatest >= 0) {
      const text = batch.bytes.toString('latin1', batch.start(greatest, time), batch.end(greatest, time));
      if (this.max === null || text > this.max) this.max = text;
    }
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
export async function* tallied(batches: AsyncIterable<EventBatch>, tally: ReceiptTally): AsyncGenerator<EventBatch> {
  for await (const batch of batches) {
    tally.add(batch);
    yield batch;
  }
}

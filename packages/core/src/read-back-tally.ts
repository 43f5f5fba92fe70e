import type { IntervalReadBack } from './destination-plugin';
import { spanIndexOf, type Span } from './interval-calendar';
import { ReceiptChecksum } from './receipt-checksum';

/**
 * What a table destination's read-back (`npm run verify`) counts as it
 * streams the rows it holds over a range: each row in its interval by the
 * column runs replace on, its key hashed as a receipt is; and the receipt
 * version the destination keeps per interval.
 */
export class ReadBackTally {
  private readonly sums: ReceiptChecksum[];
  private readonly versions = new Map<number, number>();

  /** `spans`: the export's intervals, sorted, not overlapping. */
  constructor(private readonly spans: readonly Span[]) {
    this.sums = spans.map(() => new ReceiptChecksum());
  }

  /** Counts a held row by its key and instant (epoch ms); a row outside every interval is left out. */
  add(key: string, at: number): void {
    const i = spanIndexOf(this.spans, at);
    if (i >= 0) this.sums[i]!.add(key);
  }

  /** The receipt version kept for the interval starting at `start` (epoch ms). */
  version(start: number, version: number): void {
    this.versions.set(start, version);
  }

  /** Per interval start: rows, checksum, receipt version (null where none is kept). */
  result(): Map<number, IntervalReadBack> {
    return new Map(
      this.spans.map((span, i) => [
        span.start,
        {
          records: this.sums[i]!.count,
          checksum: this.sums[i]!.toString(),
          receiptVersion: this.versions.get(span.start) ?? null,
        },
      ]),
    );
  }
}

import type { IntervalReadBack, Span } from '@bx/core';

/** One interval as `npm run verify` reports it. */
export interface IntervalVerification {
  data_interval_start: string;
  data_interval_end: string;
  source_records: number;
  destination_records: number;
  source_checksum: string;
  destination_checksum: string;
  checksums_equal: boolean;
  /** The version of the receipt the destination keeps for the interval; null when none. */
  receipt_version: number | null;
  /** Records and checksums equal. */
  match: boolean;
}

export interface VerifyReport {
  export_id: string;
  destination: string;
  intervals: IntervalVerification[];
  summary: {
    intervals: number;
    matching: number;
    mismatched: number;
    source_records: number;
    destination_records: number;
  };
}

const NOTHING = { records: 0, checksum: '0' };

/** Source and destination side by side, per interval. */
export function compareIntervals(
  spans: readonly Span[],
  source: ReadonlyMap<number, { records: number; checksum: string }>,
  destination: ReadonlyMap<number, IntervalReadBack>,
): IntervalVerification[] {
  return spans.map((span) => {
    const held = source.get(span.start) ?? NOTHING;
    const read = destination.get(span.start) ?? { ...NOTHING, receiptVersion: null };
    const checksumsEqual = held.checksum === read.checksum;
    return {
      data_interval_start: new Date(span.start).toISOString(),
      data_interval_end: new Date(span.end).toISOString(),
      source_records: held.records,
      destination_records: read.records,
      source_checksum: held.checksum,
      destination_checksum: read.checksum,
      checksums_equal: checksumsEqual,
      receipt_version: read.receiptVersion,
      match: checksumsEqual && held.records === read.records,
    };
  });
}

export function summarize(exportId: string, destination: string, intervals: IntervalVerification[]): VerifyReport {
  const matching = intervals.filter((i) => i.match).length;
  return {
    export_id: exportId,
    destination,
    intervals,
    summary: {
      intervals: intervals.length,
      matching,
      mismatched: intervals.length - matching,
      source_records: intervals.reduce((n, i) => n + i.source_records, 0),
      destination_records: intervals.reduce((n, i) => n + i.destination_records, 0),
    },
  };
}

/** The report as text: a header, one aligned line per interval, a summary line. */
export function reportLines(report: VerifyReport): string[] {
  const rows = report.intervals.map((i) => [
    `${i.data_interval_start.replace('.000Z', 'Z')} - ${i.data_interval_end.replace('.000Z', 'Z')}`,
    String(i.source_records),
    String(i.destination_records),
    i.checksums_equal ? 'equal' : 'DIFFERENT',
    i.receipt_version === null ? '-' : `v${i.receipt_version}`,
    i.match ? 'ok' : 'MISMATCH',
  ]);
  const header = ['interval', 'source', 'destination', 'checksums', 'receipt', 'result'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c === 0 || c >= 3 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  const s = report.summary;
  return [
    line(header),
    ...rows.map(line),
    `${s.intervals} intervals: ${s.matching} match, ${s.mismatched} mismatch; ` +
      `source ${s.source_records} rows, destination ${s.destination_records} rows (${report.destination})`,
  ];
}

import type { Backfill } from '@bx/operations';

/** One progress line: bar, runs finished and failed, rows, rate, elapsed. */
export function progressLine(b: Backfill, elapsedMs: number, width = 30): string {
  const filled = Math.round(b.progress * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const seconds = Math.max(elapsedMs / 1000, 0.001);
  const rate = b.records_completed / seconds;
  return (
    `[${bar}] ${(b.progress * 100).toFixed(1).padStart(5)}%  ` +
    `runs ${b.finished_runs}/${b.total_runs}  failed ${b.failed_runs}  skipped ${b.skipped_runs}  ` +
    `rows ${b.records_completed.toLocaleString('en-US')}  ${Math.round(rate).toLocaleString('en-US')} rows/s  ` +
    `${seconds.toFixed(0)}s`
  );
}

/** The closing table, as aligned text. */
export function summaryTable(rows: Array<[string, string | number]>): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  const valueWidth = Math.max(...rows.map(([, v]) => String(v).length));
  const line = `+${'-'.repeat(width + 2)}+${'-'.repeat(valueWidth + 2)}+`;
  const body = rows.map(([k, v]) => `| ${k.padEnd(width)} | ${String(v).padStart(valueWidth)} |`);
  return [line, ...body, line].join('\n');
}

import type { Verdict } from './verify';

/** One line of the summary table. */
export interface ScenarioReport {
  scenario: string;
  intervals: number | null;
  rows: number | null;
  missing: number | null;
  duplicated: number | null;
  result: 'PASS' | 'FAIL';
  seconds: number;
  /** What the fault did and what was checked, or why it failed. */
  notes: string[];
}

const reports: ScenarioReport[] = [];

/**
 * One scenario's checks. Every check is recorded; the scenario fails (and the
 * mocha run with it) after all of them ran, so the table shows every number.
 */
export class Scenario {
  private readonly report: ScenarioReport;
  private readonly failures: string[] = [];
  private readonly began = Date.now();

  /** `system` keeps the processes' logs, saved when the scenario fails. */
  constructor(
    name: string,
    private readonly system?: { saveLogs(): string },
  ) {
    this.report = {
      scenario: name,
      intervals: null,
      rows: null,
      missing: null,
      duplicated: null,
      result: 'FAIL',
      seconds: 0,
      notes: [],
    };
    reports.push(this.report);
  }

  counts(verdict: Verdict): void {
    Object.assign(this.report, {
      intervals: verdict.intervals,
      rows: verdict.rows,
      missing: verdict.missing,
      duplicated: verdict.duplicated,
    });
  }

  note(text: string): void {
    this.report.notes.push(text);
  }

  /** Records a check; a false one fails the scenario at finish(). */
  check(ok: boolean, what: string): void {
    if (!ok) this.failures.push(what);
  }

  /** Data checks every scenario but bad credentials makes. */
  checkExact(verdict: Verdict): void {
    this.counts(verdict);
    this.check(verdict.missing === 0, `${verdict.missing} rows missing: ${verdict.problems.slice(0, 5).join('; ')}`);
    this.check(
      verdict.duplicated === 0,
      `${verdict.duplicated} rows duplicated: ${verdict.problems.slice(0, 5).join('; ')}`,
    );
    this.check(verdict.strayObjects.length === 0, `objects of no interval: ${verdict.strayObjects.join(', ')}`);
    this.check(verdict.receiptProblems.length === 0, `receipts: ${verdict.receiptProblems.slice(0, 5).join('; ')}`);
  }

  /** Runs the scenario's body; records a thrown error as its failure. */
  async run(body: (scenario: this) => Promise<void>): Promise<void> {
    try {
      await body(this);
    } catch (err) {
      this.failures.push(`aborted: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.report.seconds = Math.round((Date.now() - this.began) / 1000);
    this.report.result = this.failures.length === 0 ? 'PASS' : 'FAIL';
    this.report.notes.push(...this.failures.map((f) => `FAILED: ${f}`));
    if (this.failures.length && this.system) this.report.notes.push(`process logs: ${this.system.saveLogs()}`);
    if (this.failures.length) throw new Error(`${this.report.scenario}:\n  ${this.failures.join('\n  ')}`);
  }
}

/** The table printed at the end of the chaos run. */
export function summaryTable(): string {
  const head = ['scenario', 'intervals', 'rows', 'missing', 'duplicated', 'result', 'seconds'];
  const cell = (v: number | null) => (v === null ? '-' : String(v));
  const rows = reports.map((r) => [
    r.scenario,
    cell(r.intervals),
    cell(r.rows),
    cell(r.missing),
    cell(r.duplicated),
    r.result,
    String(r.seconds),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cols: string[]) =>
    cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const notes = reports.flatMap((r) => r.notes.map((n) => `  ${r.scenario}: ${n}`));
  return [...out, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

export function reportCount(): number {
  return reports.length;
}

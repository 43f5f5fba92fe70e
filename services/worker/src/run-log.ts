import { withoutSecretValues, type LogFields } from '@bx/core';
import type { RunLogLine, RunLogRepository } from '@bx/store';

/** How often a run's new log lines are written to Redis while it runs, in ms. */
const FLUSH_EVERY_MS = 1000;
/** Fields every line of a run carries anyway: left out of the stored message. */
const CONTEXT_FIELDS = new Set(['export_id', 'run_id', 'attempt', 'service', 'pid', 'hostname']);

/**
 * What a worker logs about one run, kept with the run (the API serves it at
 * `.../runs/:run_id/logs`) and in the job's own log (Bull Board, one entry
 * per write): each line as `message key=value ...`, from the logger's own redacted lines. Written
 * in batches, never on the export's hot path: lines are buffered and flushed
 * every second and when the attempt ends.
 */
export class RunLog {
  /** Lines the store does not have yet. */
  private pending: RunLogLine[] = [];
  /** Lines the job's log does not have yet (every line goes to both). */
  private jobPending: string[] = [];
  /** Lines handed to the call that records the run's outcome (`withOutcome`), until it answers. */
  private inFlight: RunLogLine[] | null = null;
  /** The message of an outcome line the store already kept: the logger's copy goes to the job's log only. */
  private keptMessage: string | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  /** The export's secret values, which no line may carry (`redact`). */
  private secrets: readonly unknown[] = [];
  /** The export's other settings, shown as they are even where a secret is in them (withoutSecretValues). */
  private visible: readonly unknown[] = [];

  constructor(
    private readonly store: Pick<RunLogRepository, 'append'>,
    private readonly runId: string,
    private readonly job: { log(line: string): Promise<void> },
  ) {}

  /**
   * The export's secret values (secretValuesOf its destination): from now on
   * every line, stored or in the job's log, has them redacted as a run's
   * error is (withoutSecretValues), whatever the field (a server's words a
   * destination logged, an error's message).
   */
  redact(secrets: readonly unknown[], visible: readonly unknown[] = []): void {
    this.secrets = secrets;
    this.visible = visible;
  }

  /**
   * Where a logger's lines about the run also go (`logger.child(fields,
   * runLog.sink)`): JSON lines, already redacted by the logger.
   */
  readonly sink = (line: string): void => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { time, level, msg, ...fields } = entry;
    const logged = {
      timestamp: typeof time === 'string' ? time : new Date().toISOString(),
      level: typeof level === 'string' ? level : 'info',
      message: lineOf(String(msg ?? ''), fields, this.secrets, this.visible),
    };
    this.jobPending.push(`${logged.timestamp} ${logged.level} ${logged.message}`);
    if (this.keptMessage !== null && msg === this.keptMessage) this.keptMessage = null;
    else this.pending.push(logged);
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
  };

  /**
   * The lines the store does not have yet, then the outcome's line (`msg`
   * with `fields`, made here as the sink would make it): for the script
   * that records the run's outcome to keep with it, so a finished run's log
   * costs no call of its own. `fields` must hold no secret (they do not pass
   * the logger's redaction): counts, sizes, durations. Then `kept` or
   * `notKept` with what the store answered.
   */
  withOutcome(level: string, msg: string, fields: LogFields): RunLogLine[] {
    this.inFlight = this.pending;
    this.pending = [];
    return [
      ...this.inFlight,
      { timestamp: new Date().toISOString(), level, message: lineOf(msg, fields, this.secrets, this.visible) },
    ];
  }

  /** The store kept the lines and the outcome's line: the logger's `msg` line that follows goes to the job's log only. */
  kept(msg: string): void {
    this.inFlight = null;
    this.keptMessage = msg;
  }

  /** The outcome was not recorded: its lines are written as any others. */
  notKept(): void {
    if (this.inFlight) this.pending = [...this.inFlight, ...this.pending];
    this.inFlight = null;
  }

  /** Writes the lines not yet written; waits for writes in progress. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const lines = this.pending;
    const jobLines = this.jobPending;
    this.pending = [];
    this.jobPending = [];
    const previous = this.flushing;
    this.flushing = previous.then(() => this.write(lines, jobLines));
    await this.flushing;
  }

  private async write(lines: RunLogLine[], jobLines: string[]): Promise<void> {
    // Logs are for people: losing a few lines to a Redis blip never fails a run.
    // The job's log gets the lines of a flush as one entry: a round trip per
    // line was two of a tiny run's nine Redis round trips (docs/scaling.md).
    await Promise.all([
      lines.length > 0 ? this.store.append(this.runId, lines).catch(() => undefined) : undefined,
      jobLines.length > 0 ? this.job.log(jobLines.join('\n')).catch(() => undefined) : undefined,
    ]);
  }
}

/** `run completed records=1500 ms=2301`, without `secrets` (redacted before it is cut). */
function lineOf(msg: string, fields: LogFields, secrets: readonly unknown[], visible: readonly unknown[]): string {
  const parts = [msg];
  for (const [key, value] of Object.entries(fields)) {
    if (CONTEXT_FIELDS.has(key) || value === undefined) continue;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    parts.push(`${key}=${/\s/.test(text) ? JSON.stringify(text) : text}`);
  }
  return withoutSecretValues(parts.join(' '), secrets, visible).slice(0, 4000);
}

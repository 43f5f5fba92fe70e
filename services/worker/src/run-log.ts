import type { LogFields, Logger } from '@bx/core';
import type { RunLogLine, RunLogRepository } from '@bx/store';

/** How often a run's new log lines are written to Redis while it runs, in ms. */
const FLUSH_EVERY_MS = 1000;
/** Fields every line of a run carries anyway: left out of the stored message. */
const CONTEXT_FIELDS = new Set(['export_id', 'run_id', 'service', 'pid']);
/** Field names whose values never reach a stored line. */
const SECRET_KEY = /secret|password|private_key|passphrase|token|authorization/i;

/**
 * What a worker logs about one run, kept with the run (the API serves it at
 * `.../runs/:run_id/logs`) and in the job's own log (Bull Board): each line
 * as `message key=value ...`. Written in batches, never on the export's hot
 * path: lines are buffered and flushed every second and when the attempt ends.
 */
export class RunLog {
  private pending: RunLogLine[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Pick<RunLogRepository, 'append'>,
    private readonly runId: string,
    private readonly job: { log(line: string): Promise<void> },
  ) {}

  /** A logger that logs as `logger` does and keeps each line for the run. */
  wrap(logger: Logger, context: LogFields = {}): Logger {
    const keep = (level: string, msg: string, fields?: LogFields) => this.add(level, msg, { ...context, ...fields });
    return {
      debug: (msg, fields) => logger.debug(msg, fields),
      info: (msg, fields) => {
        logger.info(msg, fields);
        keep('info', msg, fields);
      },
      warn: (msg, fields) => {
        logger.warn(msg, fields);
        keep('warn', msg, fields);
      },
      error: (msg, fields) => {
        logger.error(msg, fields);
        keep('error', msg, fields);
      },
      child: (fields) => this.wrap(logger.child(fields), { ...context, ...fields }),
    };
  }

  /** Writes the lines not yet written; waits for writes in progress. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const lines = this.pending;
    this.pending = [];
    const previous = this.flushing;
    this.flushing = previous.then(() => this.write(lines));
    await this.flushing;
  }

  private add(level: string, msg: string, fields: LogFields): void {
    this.pending.push({ timestamp: new Date().toISOString(), level, message: lineOf(msg, fields) });
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
  }

  private async write(lines: RunLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    // Logs are for people: losing a few lines to a Redis blip never fails a run.
    await this.store.append(this.runId, lines).catch(() => undefined);
    for (const line of lines)
      await this.job.log(`${line.timestamp} ${line.level} ${line.message}`).catch(() => undefined);
  }
}

/** `run completed records=1500 ms=2301` */
function lineOf(msg: string, fields: LogFields): string {
  const parts = [msg];
  for (const [key, value] of Object.entries(fields)) {
    if (CONTEXT_FIELDS.has(key) || value === undefined) continue;
    if (SECRET_KEY.test(key)) {
      parts.push(`${key}=[redacted]`);
      continue;
    }
    const text = value instanceof Error ? value.message : typeof value === 'string' ? value : JSON.stringify(value);
    parts.push(`${key}=${/\s/.test(text) ? JSON.stringify(text) : text}`);
  }
  return parts.join(' ').slice(0, 4000);
}

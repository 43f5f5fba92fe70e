import { errorMessage, type Logger } from '@bx/core';

export interface BackgroundTask {
  name: string;
  /** How often it runs, in ms. */
  everyMs: number;
  run(): Promise<unknown>;
}

/**
 * Periodic work of the scheduler role besides the schedule: starting
 * backfills' next intervals, run retention, cleaning up deleted exports.
 * Each task runs at most once at a time; a failure is logged and the task
 * runs again at its next turn.
 */
export class Background {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    private readonly tasks: readonly BackgroundTask[],
    private readonly logger: Logger,
  ) {}

  start(): void {
    for (const task of this.tasks) {
      const loop = () => {
        if (this.stopped) return;
        const run = task
          .run()
          .catch((err: unknown) => this.logger.error(`${task.name} failed`, { err: errorMessage(err) }))
          .finally(() => {
            this.running.delete(run);
            if (this.stopped) return;
            const timer = setTimeout(() => {
              this.timers.delete(timer);
              loop();
            }, task.everyMs);
            this.timers.add(timer);
          });
        this.running.add(run);
      };
      loop();
    }
  }

  /** Stops the timers and waits for the runs in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    await Promise.allSettled(this.running);
  }
}

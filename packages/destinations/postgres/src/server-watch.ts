import { BatchExportError, RetryableError } from '@bx/core';

/**
 * Tells a busy server from a hung one. PostgreSQL sends nothing while a statement runs (a long
 * DELETE, a COPY being streamed in), so silence alone proves nothing; and a hung server (its
 * process stopped, its host frozen) still has its kernel accept connections and answer TCP
 * keep-alives, so a session on it would wait for ever, holding the run and its worker slot.
 * After `quietMs` without a byte from the server, one new session is asked to log in and
 * answer `SELECT 1` (`probe`, within the connection budget): a server that answers it, even
 * with an error (too many connections, say), is alive, and the wait goes on; one that cannot
 * be reached or stays silent is hung, and `onHung` ends the session: the attempt fails
 * retryably and backoff tries again.
 */
export class ServerWatch {
  private lastHeard = Date.now();
  private probing = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly quietMs: number,
    private readonly probe: () => Promise<void>,
    private readonly onHung: (err: RetryableError) => void,
    /** Failures of a probe that mean the server was not reached (codes of classifyPostgresError). */
    private readonly unreached: ReadonlySet<string>,
  ) {
    this.timer = setInterval(() => void this.check(), Math.max(50, Math.floor(quietMs / 4)));
    this.timer.unref();
  }

  /** The server sent something. */
  heard(): void {
    this.lastHeard = Date.now();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.probing || Date.now() - this.lastHeard < this.quietMs) return;
    this.probing = true;
    try {
      await this.probe();
    } catch (err) {
      if (err instanceof BatchExportError && this.unreached.has(err.code ?? '')) {
        const quiet = Math.round((Date.now() - this.lastHeard) / 1000);
        this.stop();
        this.onHung(
          new RetryableError(
            `PostgreSQL stopped answering: nothing for ${quiet} s, and a new session could not log in (${err.message})`,
            { code: 'ServerHung' },
          ),
        );
        return;
      }
    } finally {
      this.probing = false;
    }
    // Alive: the next probe only after another quiet period.
    this.lastHeard = Date.now();
  }
}

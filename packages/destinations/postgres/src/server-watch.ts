import { RetryableError } from '@bx/core';

/** How many probes in a row must find the server silent before it is taken as hung. */
const MISSES_TO_HUNG = 2;

/**
 * Tells a busy server from a hung one. PostgreSQL sends nothing while a statement runs (a long
 * DELETE, a COPY being streamed in), so silence alone proves nothing; and a hung server (its
 * process stopped, its host frozen) still has its kernel accept connections and answer TCP
 * keep-alives, so a session on it would wait for ever, holding the run and its worker slot.
 * After `quietMs` without a byte from the server, a new connection is opened (`probe`): a
 * server that says anything on it within the connection budget (a login, an error, a TLS
 * handshake, even a refused login) is alive, however slow its `SELECT 1` would be (a pooler
 * with a full pool, a slow LDAP login), and the wait goes on. A probe that cannot open the
 * connection at all, or hears not one byte within the budget, is a miss (`probe` resolves
 * to why); only two misses in a row, with nothing heard on the session between them, make
 * the server hung (a DNS hiccup or a lost packet is not enough), and `onHung` ends the
 * session: the attempt fails retryably and backoff tries again.
 */
export class ServerWatch {
  private lastHeard = Date.now();
  private probing = false;
  private misses = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly quietMs: number,
    /** null: the server spoke (or no verdict); otherwise why it was not heard. */
    private readonly probe: () => Promise<string | null>,
    private readonly onHung: (err: RetryableError) => void,
  ) {
    this.timer = setInterval(() => void this.check(), Math.max(50, Math.floor(quietMs / 4)));
    this.timer.unref();
  }

  /** The server sent something. */
  heard(): void {
    this.lastHeard = Date.now();
    this.misses = 0;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.probing || Date.now() - this.lastHeard < this.quietMs) return;
    this.probing = true;
    let miss: string | null;
    try {
      miss = await this.probe();
    } catch {
      miss = null; // A fault of the probe itself proves nothing about the server.
    } finally {
      this.probing = false;
    }
    if (miss === null) {
      // Alive: the next probe only after another quiet period.
      this.lastHeard = Date.now();
      this.misses = 0;
      return;
    }
    // A miss: the next probe comes at the next tick, still past the quiet period.
    if (++this.misses < MISSES_TO_HUNG) return;
    const quiet = Math.round((Date.now() - this.lastHeard) / 1000);
    this.stop();
    this.onHung(
      new RetryableError(
        `PostgreSQL stopped answering: nothing for ${quiet} s, and ${this.misses} new connections in a row heard nothing from it (${miss})`,
        { code: 'ServerHung' },
      ),
    );
  }
}

import { ConfigError, errorMessage } from './errors';
import { flushLogs } from './logger';

export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Runs a service's start-up. Invalid configuration prints one line naming the
 * variable and exits 1; any other start-up failure exits 1 with its message.
 */
export function runMain(start: () => Promise<void>): void {
  start().catch((err: unknown) => {
    const message = err instanceof ConfigError ? err.message : `start-up failed: ${errorMessage(err)}`;
    process.stderr.write(message + '\n');
    exit(1);
  });
}

/**
 * The same stop request often arrives twice within milliseconds: Ctrl-C reaches
 * `npm start` and the product (one process group), and npm hands its copy on;
 * systemd signals every process of the unit. Only a signal this long after the
 * first is someone asking again.
 */
const REPEAT_AFTER_MS = 1000;

/** Ordered shutdown on SIGTERM or SIGINT; a second signal a second or more later exits at once. */
export function onShutdown(service: Stoppable): void {
  let stoppingSince: number | null = null;
  const handler = (signal: string) => {
    if (stoppingSince !== null) {
      if (performance.now() - stoppingSince >= REPEAT_AFTER_MS) exit(130);
      return;
    }
    stoppingSince = performance.now();
    process.stderr.write(`${signal} received, shutting down\n`);
    service.stop().then(
      () => exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${errorMessage(err)}\n`);
        exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/** Exits once the log lines still buffered are written (pino's asynchronous stdout). */
function exit(code: number): never {
  flushLogs();
  process.exit(code);
}

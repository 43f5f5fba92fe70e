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
 * How many copies of each stop request this process gets: under an npm script
 * (`npm start`, `exec node`) Ctrl-C reaches npm and the product (one process
 * group) and npm hands its copy on, so one request arrives twice; run as
 * `node`, once. Counted, not timed: a copy can arrive late when the event loop
 * is busy, and two quick presses must still force the exit.
 */
export function signalsPerRequest(env: NodeJS.ProcessEnv = process.env): number {
  return env.npm_lifecycle_event ? 2 : 1;
}

/** Ordered shutdown on SIGTERM or SIGINT; asked again (a second Ctrl-C), exits at once (130). */
export function onShutdown(service: Stoppable, perRequest = signalsPerRequest()): void {
  let received = 0;
  const handler = (signal: string) => {
    received++;
    if (received > 1) {
      if (received > perRequest) exit(130);
      return;
    }
    process.stderr.write(`${signal} received, shutting down (send it again to stop at once)\n`);
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

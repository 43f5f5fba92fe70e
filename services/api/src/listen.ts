import { ConfigError } from '@bx/core';
import type { RequestListener } from 'node:http';
import { createServer, type Server } from 'node:http';

export interface ListenOptions {
  port: number;
  host: string;
  /** Time a client has to send a whole request, in ms (headers get at most 10 s of it). */
  requestTimeoutMs: number;
  /** The variables that set port and host, named when binding fails. */
  portVariable?: string;
  hostVariable?: string;
}

/** Longest a client may take to send its headers, in ms. */
const HEADERS_TIMEOUT_MS = 10_000;

/**
 * Starts an HTTP server, and fails when it cannot listen. Express 5's
 * `app.listen` hands a bind error (EADDRINUSE) to the listen callback, which
 * then looked like success: a busy port left the process running without
 * its API. A bind failure here is a ConfigError naming the variable, which
 * `runMain` prints as one line before exiting 1.
 *
 * Slow clients: Node's defaults let a request take 300 s to arrive and only
 * check every 30 s; a client now gets `requestTimeoutMs` for the whole request
 * and 10 s for its headers, checked every second, then a 408 and a closed
 * connection.
 */
export async function listen(handler: RequestListener, opts: ListenOptions): Promise<Server> {
  const requestTimeout = opts.requestTimeoutMs;
  const server = createServer(
    {
      requestTimeout,
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeout),
      connectionsCheckingInterval: Math.min(1000, requestTimeout),
    },
    handler,
  );
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(bindError(err, opts));
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return server;
}

function bindError(err: NodeJS.ErrnoException, opts: ListenOptions): Error {
  const port = opts.portVariable ?? 'PORT';
  const host = opts.hostVariable ?? 'HOST';
  const where = `${opts.host}:${opts.port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new ConfigError(port, `port ${opts.port} is already in use (${where}); stop what holds it or set ${port}`);
    case 'EACCES':
      return new ConfigError(port, `not allowed to listen on port ${opts.port} (${where}); set ${port} above 1023`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(host, `cannot listen on ${where}: ${err.code}; set ${host} to an address of this machine`);
    default:
      return err;
  }
}

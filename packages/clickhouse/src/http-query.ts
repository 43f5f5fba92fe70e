import { RetryableError } from '@bx/core';
import type { ConnectionOptions } from 'node:tls';
import { ClickHouseConnection, type ClickHouseConnections } from './clickhouse-connections';
import type { EventBatch, RecordBatch } from '@bx/batch';
import { ResponseBatches, type ResponseBatchesOptions } from './response-batches';

/** Where and as whom queries go. */
export interface QueryEndpoint {
  /** `http://host:port` or `https://...`; its path and query parameters are kept. */
  url: string;
  username: string;
  password: string;
  /** Options of TLS connections (a private CA, say). */
  tls?: ConnectionOptions;
}

export interface QueryOptions<B extends RecordBatch = EventBatch> extends ResponseBatchesOptions<B> {
  /** Longest wait for the answer to begin (connecting, then ClickHouse's status line and headers), in ms. */
  answerTimeoutMs: number;
  /** ClickHouse settings, sent as URL parameters. */
  settings: Record<string, string | number>;
  signal?: AbortSignal;
  /** Keep-alive connections to the endpoint, shared by its queries; without, one connection per query. */
  connections?: ClickHouseConnections;
}

/** Where `endpoint` is: host, port and whether over TLS. */
export function endpointAddress(endpoint: QueryEndpoint): { host: string; port: number; secure: boolean } {
  const url = new URL(endpoint.url);
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') throw new Error(`ClickHouse URL must be http or https, not ${url.protocol}`);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || (secure ? 443 : 80)), secure };
}

/**
 * Sends `sql` (a `FORMAT RowBinary` query) to ClickHouse's HTTP interface,
 * POST with the query as the body, and answers its response as batches (see
 * ResponseBatches). With `connections`, on a keep-alive connection that goes
 * back to them once the response was read to its end (any other end closes
 * it); a reused connection that the server closed before answering is
 * replaced by a new one, once. Over plain HTTP the socket reads straight
 * into the batch buffers (`onread`); over TLS the decrypted pieces are
 * copied there.
 */
export function queryRowBinary<B extends RecordBatch = EventBatch>(
  endpoint: QueryEndpoint,
  sql: string,
  opts: QueryOptions<B>,
): ResponseBatches<B> {
  const url = new URL(endpoint.url);
  const { host, port, secure } = endpointAddress(endpoint);
  const pool = opts.connections;
  const params = new URLSearchParams(url.searchParams);
  for (const [name, value] of Object.entries(opts.settings)) params.set(name, String(value));
  const body = Buffer.from(sql);
  const credentials = Buffer.from(`${endpoint.username}:${endpoint.password}`).toString('base64');
  const head = Buffer.from(
    [
      `POST ${url.pathname || '/'}?${params} HTTP/1.1`,
      `Host: ${url.host}`,
      `Authorization: Basic ${credentials}`,
      'Content-Type: text/plain; charset=UTF-8',
      `Content-Length: ${body.length}`,
      pool ? 'Connection: keep-alive' : 'Connection: close',
      'User-Agent: bx-batch-exports',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
  const request = Buffer.concat([head, body]);

  let connection: ClickHouseConnection | null = null;
  let reused = false;
  const onAbort = () => response.fail(abortError());
  const timer = setTimeout(() => {
    const seconds = Math.round(opts.answerTimeoutMs / 1000);
    response.fail(new RetryableError(`ClickHouse did not answer within ${seconds} s`, { code: 'ClickHouseTimeout' }));
  }, opts.answerTimeoutMs);
  const response = new ResponseBatches<B>(opts, {
    resume: () => connection?.socket.resume(),
    close: () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (connection && pool && response.complete) pool.give(connection);
      else connection?.destroy();
    },
  });
  response.onHead = () => clearTimeout(timer);
  if (opts.signal?.aborted) {
    response.fail(abortError());
    return response;
  }
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  /** A reused connection that ends before any answer byte: the server closed it while idle; once more on a new one. */
  const ended = (err: unknown | null) => {
    if (reused && connection && connection.received === 0) {
      reused = false;
      connection.destroy();
      send(pool!.open());
    } else if (err !== null) response.fail(err);
    else response.closed();
  };
  const reader = {
    room: () => response.room(),
    received: (n: number) => response.received(n),
    push: (chunk: Uint8Array) => response.push(chunk),
    fail: (err: unknown) => ended(err),
    closed: () => ended(null),
  };
  const send = (c: ClickHouseConnection) => {
    connection = c;
    c.attach(reader);
    c.socket.write(request);
  };
  if (pool) {
    const taken = pool.take();
    reused = taken.reused;
    send(taken.connection);
  } else {
    send(new ClickHouseConnection(host, port, secure, endpoint.tls));
  }
  return response;
}

function abortError(): Error {
  const err = new Error('ClickHouse query aborted');
  err.name = 'AbortError';
  return err;
}

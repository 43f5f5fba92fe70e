import { RetryableError } from '@bx/core';
import { isIP, connect as plainConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
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
}

/**
 * Sends `sql` (a `FORMAT RowBinary` query) to ClickHouse's HTTP interface,
 * POST with the query as the body and `Connection: close`, and answers its
 * response as batches (see ResponseBatches). Over plain HTTP the socket
 * reads straight into the batch buffers (`onread`); over TLS the decrypted
 * pieces are copied there.
 */
export function queryRowBinary<B extends RecordBatch = EventBatch>(
  endpoint: QueryEndpoint,
  sql: string,
  opts: QueryOptions<B>,
): ResponseBatches<B> {
  const url = new URL(endpoint.url);
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') throw new Error(`ClickHouse URL must be http or https, not ${url.protocol}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (secure ? 443 : 80));
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
      'Connection: close',
      'User-Agent: bx-batch-exports',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );

  let socket: Socket | null = null;
  const onAbort = () => response.fail(abortError());
  const timer = setTimeout(() => {
    const seconds = Math.round(opts.answerTimeoutMs / 1000);
    response.fail(new RetryableError(`ClickHouse did not answer within ${seconds} s`, { code: 'ClickHouseTimeout' }));
  }, opts.answerTimeoutMs);
  const response = new ResponseBatches<B>(opts, {
    resume: () => socket?.resume(),
    close: () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket?.destroy();
    },
  });
  response.onHead = () => clearTimeout(timer);
  if (opts.signal?.aborted) {
    response.fail(abortError());
    return response;
  }
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  if (secure) {
    const tls = tlsConnect({ host, port, servername: isIP(host) ? undefined : host, ...endpoint.tls });
    tls.on('data', (chunk: Buffer) => {
      if (!response.push(chunk)) tls.pause();
    });
    socket = tls;
  } else {
    socket = plainConnect({
      host,
      port,
      onread: { buffer: () => response.room(), callback: (n: number) => response.received(n) },
    });
  }
  socket.setNoDelay(true);
  socket.on('error', (err) => response.fail(err));
  socket.on('end', () => response.closed());
  socket.on('close', () => response.closed());
  socket.write(Buffer.concat([head, body]));
  return response;
}

function abortError(): Error {
  const err = new Error('ClickHouse query aborted');
  err.name = 'AbortError';
  return err;
}

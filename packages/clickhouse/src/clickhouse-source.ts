import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { EventBatch, PermanentError, RetryableError, type Config } from '@bx/core';
import type { Readable } from 'node:stream';
import { ReadAhead } from './read-ahead';
import { decodeRowBinary, frameRows } from './row-binary-frames';

export interface ClickHouseSourceOptions {
  url: string;
  username: string;
  password: string;
  /** Longest a query may run, in ms. */
  requestTimeoutMs: number;
  /** A query that sends nothing for this long is cut (retryable), in ms. Default 5 minutes. */
  idleTimeoutMs?: number;
  /** Bytes of rows per yielded batch: amortises per-row and per-call costs downstream. Default 2 MiB. */
  batchBytes?: number;
  /** Response bytes read ahead of the consumer (see ReadAhead). Default 8 MiB. */
  readAheadBytes?: number;
}

// Codes of a query that is wrong in itself: retrying cannot help.
const BAD_QUERY_CODES = new Set(['62', '47', '43', '60', '81', '16']);

/** Reads events from ClickHouse as a stream of row batches with back-pressure. */
export class ClickHouseSource {
  readonly client: ClickHouseClient;

  private readonly opts: Required<ClickHouseSourceOptions>;

  /** The source as the services configure it; `overrides` for roles with other needs (the API's health check). */
  static fromConfig(
    config: Pick<
      Config,
      | 'CLICKHOUSE_URL'
      | 'CLICKHOUSE_USER'
      | 'CLICKHOUSE_PASSWORD'
      | 'CLICKHOUSE_QUERY_TIMEOUT_MS'
      | 'CLICKHOUSE_IDLE_TIMEOUT_MS'
    >,
    overrides: Partial<ClickHouseSourceOptions> = {},
  ): ClickHouseSource {
    return new ClickHouseSource({
      url: config.CLICKHOUSE_URL,
      username: config.CLICKHOUSE_USER,
      password: config.CLICKHOUSE_PASSWORD,
      requestTimeoutMs: config.CLICKHOUSE_QUERY_TIMEOUT_MS,
      idleTimeoutMs: config.CLICKHOUSE_IDLE_TIMEOUT_MS,
      ...overrides,
    });
  }

  constructor(opts: ClickHouseSourceOptions) {
    this.opts = { idleTimeoutMs: 5 * 60_000, batchBytes: 2 * 1024 * 1024, readAheadBytes: 8 * 1024 * 1024, ...opts };
    this.client = createClient({
      url: opts.url,
      username: opts.username,
      password: opts.password,
      request_timeout: opts.requestTimeoutMs,
      compression: { response: false, request: false },
      // Errors are mapped and logged by the run as JSON; the client's own text logs would duplicate them.
      log: { level: ClickHouseLogLevel.OFF },
      // Progress headers keep a long query's connection alive through proxies
      // with idle timeouts; a long interval keeps the header count small.
      clickhouse_settings: { send_progress_in_http_headers: 1, http_headers_progress_interval_ms: '110000' },
    });
  }

  /**
   * Runs the events query `sql` (see `buildEventsQuery`) with `FORMAT
   * RowBinary` and yields its rows in batches of about `batchBytes`.
   * The HTTP response is read at most `readAheadBytes` ahead of the batches
   * the caller has taken.
   */
  async *batches(sql: string, signal?: AbortSignal): AsyncGenerator<EventBatch> {
    const idle = new AbortController();
    const abortSignal = signal ? AbortSignal.any([signal, idle.signal]) : idle.signal;
    let stream: NodeJS.ReadableStream;
    try {
      ({ stream } = await this.withinIdle(
        this.client.exec({ query: `${sql}\nFORMAT RowBinary`, abort_signal: abortSignal }),
        idle,
      ));
    } catch (err) {
      throw mapError(err);
    }
    const reader = new ReadAhead(stream as Readable, this.opts.readAheadBytes);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    // Bytes to gather before framing: a batch, or the rest of a row larger than that.
    let wanted = this.opts.batchBytes;
    try {
      for (;;) {
        // Only the wait for ClickHouse is timed, not the consumer's upload (back-pressure).
        const chunks = await this.withinIdle(reader.take(wanted - pendingBytes), idle);
        if (chunks.length === 0) break;
        for (const chunk of chunks) {
          pending.push(chunk);
          pendingBytes += chunk.length;
        }
        if (pendingBytes < wanted) continue;
        const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        const frames = frameRows(buf);
        const rest = buf.subarray(frames.used);
        pending = rest.length > 0 ? [rest] : [];
        pendingBytes = rest.length;
        wanted = Math.max(this.opts.batchBytes, frames.need - frames.used);
        if (frames.count > 0) yield new EventBatch(buf.subarray(0, frames.used), frames.index, frames.count);
      }
    } catch (err) {
      throw mapError(err);
    } finally {
      if (!idle.signal.aborted) (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    }
    if (pendingBytes > 0) yield decodeRowBinary(Buffer.concat(pending, pendingBytes));
  }

  /** Rejects, and aborts the request, when ClickHouse sends nothing for `idleTimeoutMs`. */
  private async withinIdle<T>(promise: Promise<T>, idle: AbortController): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        idle.abort();
        const seconds = Math.round(this.opts.idleTimeoutMs / 1000);
        reject(
          new RetryableError(`ClickHouse sent no data for ${seconds} s; query cut, will retry`, {
            code: 'ClickHouseStalled',
          }),
        );
      }, this.opts.idleTimeoutMs);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async ping(): Promise<boolean> {
    const result = await this.client.ping();
    return result.success;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

function mapError(err: unknown): Error {
  if (err instanceof RetryableError || err instanceof PermanentError) return err;
  const e = err as { code?: string; message?: string; name?: string };
  const message = `ClickHouse: ${e.message ?? String(err)}`;
  if (e.name === 'AbortError') return new RetryableError('ClickHouse query aborted', { code: 'Aborted', cause: err });
  // Old servers' error text is not parsed by the client: read `Code: N` from it.
  const code = e.code && /^\d+$/.test(String(e.code)) ? String(e.code) : /\bCode: (\d+)/.exec(e.message ?? '')?.[1];
  if (code && BAD_QUERY_CODES.has(code)) return new PermanentError(message, { code: `ClickHouse${code}`, cause: err });
  return new RetryableError(message, { code: code ? `ClickHouse${code}` : 'ClickHouseUnavailable', cause: err });
}

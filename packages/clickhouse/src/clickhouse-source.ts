import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { PermanentError, RetryableError, type Config, type EventRow } from '@bx/core';
import { StringDecoder } from 'node:string_decoder';

export interface ClickHouseSourceOptions {
  url: string;
  username: string;
  password: string;
  /** Longest a query may run, in ms. */
  requestTimeoutMs: number;
  /** A query that sends nothing for this long is cut (retryable), in ms. Default 5 minutes. */
  idleTimeoutMs?: number;
}

/** Rows per yielded batch: amortises per-row async overhead downstream. */
const BATCH_ROWS = 2000;

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
    this.opts = { idleTimeoutMs: 5 * 60_000, ...opts };
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
   * Runs `sql` with `FORMAT JSONEachRow` and yields parsed rows in batches. The
   * HTTP response is consumed only as fast as the caller takes batches.
   */
  async *rows(sql: string, signal?: AbortSignal): AsyncGenerator<EventRow[]> {
    const idle = new AbortController();
    const abortSignal = signal ? AbortSignal.any([signal, idle.signal]) : idle.signal;
    let stream: NodeJS.ReadableStream;
    try {
      ({ stream } = await this.withinIdle(
        this.client.exec({ query: `${sql}\nFORMAT JSONEachRow`, abort_signal: abortSignal }),
        idle,
      ));
    } catch (err) {
      throw mapError(err);
    }
    const chunks = stream[Symbol.asyncIterator]();
    const decoder = new StringDecoder('utf8');
    let rest = '';
    let batch: EventRow[] = [];
    try {
      for (;;) {
        // Only the wait for ClickHouse is timed, not the consumer's upload (back-pressure).
        const next = await this.withinIdle(chunks.next(), idle);
        if (next.done) break;
        const text = rest + decoder.write(next.value as Buffer);
        let from = 0;
        for (let nl = text.indexOf('\n', from); nl !== -1; nl = text.indexOf('\n', from)) {
          batch.push(parseLine(text.slice(from, nl)));
          from = nl + 1;
        }
        rest = text.slice(from);
        if (batch.length >= BATCH_ROWS) {
          yield batch;
          batch = [];
        }
      }
    } catch (err) {
      throw mapError(err);
    } finally {
      if (!idle.signal.aborted) (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    }
    rest += decoder.end();
    if (rest.trim() !== '') batch.push(parseLine(rest));
    if (batch.length > 0) yield batch;
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

function parseLine(line: string): EventRow {
  try {
    return JSON.parse(line) as EventRow;
  } catch {
    // ClickHouse reports an error met mid-stream as text inside the body.
    const detail = line.includes('DB::Exception') ? line.trim() : `unparseable row (${line.length} chars)`;
    throw new RetryableError(`ClickHouse stream broken: ${detail.slice(0, 500)}`, { code: 'ClickHouseStream' });
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

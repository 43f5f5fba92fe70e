import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { PermanentError, RetryableError, type EventRow } from '@bx/core';
import { StringDecoder } from 'node:string_decoder';

export interface ClickHouseSourceOptions {
  url: string;
  username: string;
  password: string;
  /** Longest a query may run, in ms. */
  requestTimeoutMs: number;
}

/** Rows per yielded batch: amortises per-row async overhead downstream. */
const BATCH_ROWS = 2000;

// Codes of a query that is wrong in itself: retrying cannot help.
const BAD_QUERY_CODES = new Set(['62', '47', '43', '60', '81', '16']);

/** Reads events from ClickHouse as a stream of row batches with back-pressure. */
export class ClickHouseSource {
  readonly client: ClickHouseClient;

  constructor(opts: ClickHouseSourceOptions) {
    this.client = createClient({
      url: opts.url,
      username: opts.username,
      password: opts.password,
      request_timeout: opts.requestTimeoutMs,
      compression: { response: false, request: false },
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
    let stream: NodeJS.ReadableStream;
    try {
      ({ stream } = await this.client.exec({ query: `${sql}\nFORMAT JSONEachRow`, abort_signal: signal }));
    } catch (err) {
      throw mapError(err);
    }
    const decoder = new StringDecoder('utf8');
    let rest = '';
    let batch: EventRow[] = [];
    try {
      for await (const chunk of stream) {
        const text = rest + decoder.write(chunk as Buffer);
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
    }
    rest += decoder.end();
    if (rest.trim() !== '') batch.push(parseLine(rest));
    if (batch.length > 0) yield batch;
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

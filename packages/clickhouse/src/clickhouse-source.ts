import {
  PermanentError,
  RetryableError,
  type Config,
  type ModelPlugin,
  type ModelQueryInput,
  type SourceQuery,
} from '@bx/core';
import type { BatchFormat, EventBatch, RecordBatch } from '@bx/batch';
import { performance } from 'node:perf_hooks';
import { ClickHousePing, QUERY_SETTINGS, clickHouseUnreachable, type ClickHouseConfig } from './clickhouse-ping';
import { BufferPool } from './buffer-pool';
import { ColumnTypesCache } from './column-types-cache';
import { ClickHouseConnections } from './clickhouse-connections';
import { endpointAddress, queryRowBinary, type QueryEndpoint } from './http-query';
import { TYPES_GUARD_CODE } from './sql-escape';
import { SharedReads, sharedRead, type SharedReadsOptions } from './shared-reads';
import { serverErrorCode } from './server-error-code';

export interface ClickHouseSourceOptions {
  url: string;
  username: string;
  password: string;
  /** Longest wait for a query's answer to begin (connecting, then ClickHouse's status line and headers), in ms. */
  requestTimeoutMs: number;
  /** A query that sends nothing for this long is cut (retryable), in ms. Default 5 minutes. */
  idleTimeoutMs?: number;
  /** Bytes of rows per yielded batch: amortises per-row and per-call costs downstream. Default 2 MiB. */
  batchBytes?: number;
  /** Response bytes read ahead of the consumer. Default 8 MiB. */
  readAheadBytes?: number;
  /** Options of TLS connections for an https URL (a private CA, say). */
  tls?: QueryEndpoint['tls'];
  /** How long a table's column types are reused (ColumnTypesCache), in ms. Default 1 minute. */
  columnTypesTtlMs?: number;
  /**
   * Runs in flight at once that differ only by team share one query (SharedReads), or `false`:
   * each run its own query. Default on, with SharedReads' default caps.
   */
  sharedReads?: SharedReadsOptions | false;
}

/** What the source reads of the configuration. */
export type ClickHouseSourceConfig = ClickHouseConfig & Pick<Config, 'CLICKHOUSE_SHARED_READS'>;

/** What the source uses of a model. */
export type SourceModel<B extends RecordBatch> = Pick<
  ModelPlugin<BatchFormat<B>>,
  'name' | 'query' | 'format' | 'typedColumns' | 'teams'
>;

/** Free batch buffers a source keeps between queries (2.25 MiB each by default). */
const POOLED_BUFFERS = 8;
export interface BatchesOptions<B extends RecordBatch = EventBatch> {
  /** A batch's memory is reused once the caller asks for the next one (as every DestinationWriter allows). */
  reuseBuffers?: boolean;
  /** The model's rows: their columns' wire forms and the batch that holds them. Default: events. */
  format?: BatchFormat<B>;
}

// Codes of a query that is wrong in itself: retrying cannot help.
const BAD_QUERY_CODES = new Set(['62', '47', '43', '60', '81', '16']);

/** Reads a model's rows from ClickHouse as a stream of row batches with back-pressure. */
/**
 * A run's query also uses ClickHouse's cache of decompressed blocks. A tiny
 * run reads one granule of every column it selects (8,192 rows, about 1 MB
 * decompressed from 12 files on the benchmark's table) to return a few rows;
 * the runs of one interval read the same granules. ClickHouse skips the
 * cache for a query of more than `merge_tree_max_rows_to_use_cache` rows
 * (1,048,576 by default), so a large run does not evict it. 1,000 tiny
 * queries (ClickHouse 18.16 of its own, its CPU per query, three alternating
 * rounds at load 12-18): at concurrency 16, 4.06-5.75 ms without the cache,
 * 2.50-4.21 ms with it; one at a time, 2.79-3.13 against 2.22-2.41 ms.
 */
const EXPORT_QUERY_SETTINGS = { ...QUERY_SETTINGS, use_uncompressed_cache: 1 } as const;

export class ClickHouseSource {
  private readonly pinger: ClickHousePing;
  private readonly opts: Required<Omit<ClickHouseSourceOptions, 'tls' | 'columnTypesTtlMs' | 'sharedReads'>>;
  private readonly endpoint: QueryEndpoint;
  private readonly pool = new BufferPool(POOLED_BUFFERS);
  private readonly columnTypes: ColumnTypesCache;
  private readonly shared: SharedReads | null;
  /** Keep-alive connections of this source's queries, opened by the first. */
  private connections: ClickHouseConnections | null = null;

  /** The source as the services configure it; `overrides` for roles with other needs (the API's health check). */
  static fromConfig(
    config: ClickHouseSourceConfig,
    overrides: Partial<ClickHouseSourceOptions> = {},
  ): ClickHouseSource {
    return new ClickHouseSource({
      url: config.CLICKHOUSE_URL,
      username: config.CLICKHOUSE_USER,
      password: config.CLICKHOUSE_PASSWORD,
      requestTimeoutMs: config.CLICKHOUSE_QUERY_TIMEOUT_MS,
      idleTimeoutMs: config.CLICKHOUSE_IDLE_TIMEOUT_MS,
      sharedReads: config.CLICKHOUSE_SHARED_READS ? {} : false,
      ...overrides,
    });
  }

  constructor(opts: ClickHouseSourceOptions) {
    const { tls, columnTypesTtlMs, sharedReads = {}, ...rest } = opts;
    this.opts = { idleTimeoutMs: 5 * 60_000, batchBytes: 2 * 1024 * 1024, readAheadBytes: 8 * 1024 * 1024, ...rest };
    this.endpoint = { url: opts.url, username: opts.username, password: opts.password, tls };
    this.pinger = new ClickHousePing(opts);
    this.columnTypes = new ColumnTypesCache(this.endpoint, this.opts.requestTimeoutMs, columnTypesTtlMs);
    this.shared =
      sharedReads === false
        ? null
        : new SharedReads((query, format, signal) => this.batches(query, signal, { reuseBuffers: true, format }), {
            ...sharedReads,
            // A team's rows come as one batch, as from its own query.
            maxBytes: Math.min(sharedReads.maxBytes ?? 1024 * 1024, this.opts.batchBytes),
          });
  }

  /**
   * A model's rows of one run as batches (see `batches`). A model that
   * reads some columns binary where the table stores them so (events: its
   * UUIDs and timestamps, see `ModelPlugin.typedColumns`) has its query
   * built for the table's column types, read from system.columns at most
   * once a minute (ColumnTypesCache); the query asserts them (`typesGuard`),
   * so a table whose types changed since is refused, and read again with its
   * new types at once (nothing was read yet). The others run their `query`
   * as it is. Runs of a model with `teams` may share their query with other
   * teams' runs (see `read`).
   */
  async *modelBatches<B extends RecordBatch>(
    model: SourceModel<B>,
    input: ModelQueryInput,
    signal?: AbortSignal,
    opts: { reuseBuffers?: boolean } = {},
  ): AsyncGenerator<B> {
    const typed = model.typedColumns;
    if (!typed) {
      yield* this.read(model, input, model.query(input), model.format(), undefined, signal, opts);
      return;
    }
    const { database, table } = typed.table(input.config);
    for (;;) {
      let read: { query: SourceQuery; format: BatchFormat<B> };
      let fresh: boolean;
      let types: ReadonlyMap<string, string>;
      try {
        const known = await this.columnTypes.get(database, table, signal);
        ({ fresh, types } = known);
        read = typed.read(input, types);
      } catch (err) {
        this.columnTypes.forget(database, table);
        throw mapError(err, this.endpoint.url);
      }
      let yielded = false;
      try {
        for await (const batch of this.read(model, input, read.query, read.format, types, signal, opts)) {
          yielded = true;
          yield batch;
        }
        return;
      } catch (err) {
        // The table may have changed: whatever reads it next reads its types first.
        this.columnTypes.forget(database, table, types);
        if ((err as RetryableError).code !== `ClickHouse${TYPES_GUARD_CODE}`) throw err;
        if (yielded || fresh) {
          throw new RetryableError(`the column types of ${database}.${table} changed while the run read it`, {
            code: 'ClickHouseTypesChanged',
            cause: err,
          });
        }
        // Types read by an earlier run, and changed since: ClickHouse refused before any row; again with the new ones.
      }
    }
  }

  /**
   * A run's rows (`query`, of `format`): out of one query shared with other
   * teams' runs of the same shape in flight at once (SharedReads), when the
   * model can build it (`teams`) and the answer is small; else, and
   * always without SharedReads, `query` alone, streamed (`batches`).
   */
  private async *read<B extends RecordBatch>(
    model: SourceModel<B>,
    input: ModelQueryInput,
    query: SourceQuery,
    format: BatchFormat<B>,
    types: ReadonlyMap<string, string> | undefined,
    signal: AbortSignal | undefined,
    opts: { reuseBuffers?: boolean },
  ): AsyncGenerator<B> {
    const shared = this.shared && model.teams ? sharedRead(model.name, model.teams, input, format, types) : null;
    if (shared) {
      let answer;
      try {
        answer = await this.shared!.read(shared, signal);
      } catch (err) {
        throw mapError(err, this.endpoint.url);
      }
      if (answer !== 'alone') {
        if (answer.rows) yield answer.rows;
        return;
      }
    }
    yield* this.batches(query, signal, { ...opts, format });
  }

  /**
   * Runs a model's query (its SQL, or SQL and settings) with `FORMAT
   * RowBinary` and yields its rows in batches of `format` (default: events,
   * all text) of about `batchBytes`, their fields encoded as the format's
   * layout says (the one the query was built for).
   * The response is read at most `readAheadBytes` ahead of the batches the
   * caller has taken, straight into the batches' buffers (see queryRowBinary).
   * With `reuseBuffers`, a batch's memory is reused once the caller asks for
   * the next one (as every DestinationWriter allows).
   */
  async *batches<B extends RecordBatch = EventBatch>(
    query: string | SourceQuery,
    signal?: AbortSignal,
    { reuseBuffers = false, format }: BatchesOptions<B> = {},
  ): AsyncGenerator<B> {
    const idle = new AbortController();
    const { sql, settings } = typeof query === 'string' ? { sql: query, settings: undefined } : query;
    const response = queryRowBinary<B>(this.endpoint, `${sql}\nFORMAT RowBinary`, {
      batchBytes: this.opts.batchBytes,
      readAheadBytes: this.opts.readAheadBytes,
      reuseBuffers,
      pool: this.pool,
      format,
      answerTimeoutMs: this.opts.requestTimeoutMs,
      settings: { ...settings, ...EXPORT_QUERY_SETTINGS },
      signal: signal ? AbortSignal.any([signal, idle.signal]) : idle.signal,
      connections: this.keepAlive(),
    });
    try {
      for (;;) {
        // Only the wait for ClickHouse is timed, not the consumer's upload (back-pressure).
        const batch = await this.withinIdle(response.take(), idle, () => response.lastReadAt);
        if (!batch) return;
        yield batch;
      }
    } catch (err) {
      throw mapError(err, this.endpoint.url);
    } finally {
      response.cancel();
      // The caller has asked past its last batch (or given up): done with every one.
      response.release();
    }
  }

  private keepAlive(): ClickHouseConnections {
    if (!this.connections) {
      const { host, port, secure } = endpointAddress(this.endpoint);
      this.connections = new ClickHouseConnections(host, port, secure, this.endpoint.tls);
    }
    return this.connections;
  }

  /**
   * Rejects, and aborts the request, when ClickHouse sends nothing for `idleTimeoutMs`
   * (`lastReadAt`: when it last sent a byte; the wait for this batch counts from its start).
   * A batch may take longer than the limit to arrive from a server that is slow but sending
   * (a scan that finds its rows far apart, a loaded server or network, progress headers
   * before the first row). Cutting such a query would fail every retry at the same point
   * with a message that says no data came. The timer wakes once per quiet period, not per read.
   */
  private async withinIdle<T>(promise: Promise<T>, idle: AbortController, lastReadAt: () => number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const waitFrom = performance.now();
    const timeout = new Promise<never>((_, reject) => {
      const check = () => {
        const quiet = performance.now() - Math.max(waitFrom, lastReadAt());
        if (quiet < this.opts.idleTimeoutMs) {
          timer = setTimeout(check, this.opts.idleTimeoutMs - quiet);
          return;
        }
        idle.abort();
        const seconds = Math.round(this.opts.idleTimeoutMs / 1000);
        reject(
          new RetryableError(`ClickHouse sent no data for ${seconds} s; query cut, will retry`, {
            code: 'ClickHouseStalled',
          }),
        );
      };
      timer = setTimeout(check, this.opts.idleTimeoutMs);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  ping(): Promise<boolean> {
    return this.pinger.ping();
  }

  /** Throws an UnreachableError naming CLICKHOUSE_URL and the address when ClickHouse does not answer. */
  assertReachable(): Promise<void> {
    return this.pinger.assertReachable();
  }

  close(): Promise<void> {
    this.connections?.close();
    return this.pinger.close();
  }
}

function mapError(err: unknown, url: string): Error {
  if (err instanceof RetryableError || err instanceof PermanentError) return err;
  const e = err as { code?: string; message?: string; name?: string };
  const unreachable = clickHouseUnreachable(url, err);
  if (unreachable) return new RetryableError(unreachable.message, { code: 'ClickHouseUnavailable', cause: err });
  const message = `ClickHouse: ${e.message ?? String(err)}`;
  if (e.name === 'AbortError') return new RetryableError('ClickHouse query aborted', { code: 'Aborted', cause: err });
  const code = serverErrorCode(err);
  if (code && BAD_QUERY_CODES.has(code)) return new PermanentError(message, { code: `ClickHouse${code}`, cause: err });
  return new RetryableError(message, { code: code ? `ClickHouse${code}` : 'ClickHouseUnavailable', cause: err });
}

import type { QueryEndpoint } from './http-query';
import { columnTypes } from './column-types';

/** How long a table's column types are reused before they are read again, in ms. Default 1 minute. */
export const COLUMN_TYPES_TTL_MS = 60_000;

type Types = ReadonlyMap<string, string>;

/**
 * The column types of the tables one ClickHouse endpoint's runs read,
 * reused for `ttlMs` instead of read from system.columns before every run
 * (that query cost ClickHouse about as much CPU as a tiny run's own). Safe
 * because every query built from them asserts them (`typesGuard`): a table
 * whose types changed meanwhile is refused, never misread, and its entry is
 * dropped (`forget`) so that the next read gets the new types. Runs that
 * start together share one read.
 */
export class ColumnTypesCache {
  private readonly entries = new Map<string, { at: number; types: Promise<Types>; known?: Types }>();

  constructor(
    private readonly endpoint: QueryEndpoint,
    private readonly timeoutMs: number,
    private readonly ttlMs = COLUMN_TYPES_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The types of `database.table` (name → type; empty when there is no such
   * table), and whether they were read for this call rather than reused.
   * Waits for a shared read only as long as `signal` allows.
   */
  async get(database: string, table: string, signal?: AbortSignal): Promise<{ types: Types; fresh: boolean }> {
    const key = `${database}\0${table}`;
    const found = this.entries.get(key);
    if (found && this.now() - found.at < this.ttlMs)
      return { types: await abortable(found.types, signal), fresh: false };
    const entry: { at: number; types: Promise<Types>; known?: Types } = {
      at: this.now(),
      // Shared by the runs that come while it is read: no one run's signal stops it (its timeout does).
      types: columnTypes(this.endpoint, database, table, { timeoutMs: this.timeoutMs }) as Promise<Types>,
    };
    this.entries.set(key, entry);
    entry.types.then(
      (types) => (entry.known = types),
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return { types: await abortable(entry.types, signal), fresh: true };
  }

  /**
   * Drops what is known of `database.table`: the next `get` reads its types
   * again. With `stale` (the types a query was refused for), only if they
   * are still what is known: runs refused together (a shared query) read
   * the new types once, not each dropping the read another just began.
   */
  forget(database: string, table: string, stale?: Types): void {
    const key = `${database}\0${table}`;
    const entry = this.entries.get(key);
    if (stale && entry && entry.known !== stale) return;
    this.entries.delete(key);
  }
}

/** `promise`, or a rejection (AbortError) as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      const err = new Error('ClickHouse query aborted');
      err.name = 'AbortError';
      reject(err);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The part of chdb's `Session` the tests use (typed here so typecheck needs no chdb). */
export interface ChdbSession {
  query(sql: string, format?: string): string;
  queryAsync(sql: string, opts?: { format?: string }): Promise<{ bytes(): Uint8Array }>;
  cleanup?(): void;
}

const HERE = __dirname;

/**
 * chdb (ClickHouse 26.7 embedded) from this folder's own install, which the
 * root `npm ci` leaves out (`npm run setup:modern-engine`; `npm test` runs it).
 * Throws, never skips: the tests that need it must run in CI.
 */
export function chdbSession(path: string): ChdbSession {
  const entry = join(HERE, 'node_modules', 'chdb');
  if (!existsSync(entry)) {
    throw new Error(`chdb is not installed in ${HERE}: run \`npm run setup:modern-engine\` (npm test does)`);
  }
  const { Session } = require(entry) as { Session: new (path: string) => ChdbSession };
  return new Session(path);
}

/** The column types of `database.table` in chdb's system.columns (name → type), as columnTypes reads them. */
export function chdbColumnTypes(session: ChdbSession, database: string, table: string): Map<string, string> {
  const sql = `SELECT name, type FROM system.columns WHERE database = '${database}' AND table = '${table}'`;
  return new Map(
    String(session.query(sql, 'JSONEachRow'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { name: string; type: string })
      .map((c) => [c.name, c.type]),
  );
}

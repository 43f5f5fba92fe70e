import { PermanentError } from '@bx/core';
import type { PostgresConnection } from './postgres-connection';

/** What a database must be created with to hold the events (any Unicode character). */
export const UTF8_HINT =
  "the events hold any Unicode character, which only a UTF8 database stores: create the database with ENCODING 'UTF8'";

/**
 * Fails permanently unless the database's encoding is UTF8. In another one a
 * run failed on the first character it cannot hold (22P05 in LATIN1; in
 * SQL_ASCII, 0A000 on a JSON escape such as \u00e9), for ever, while the
 * destination test said ok.
 */
export async function requireUtf8Database(conn: PostgresConnection, database: string): Promise<void> {
  const { rows } = await conn.query<{ encoding: string }>(
    "SELECT current_setting('server_encoding') AS encoding",
    'read the database encoding',
  );
  const encoding = rows[0]?.encoding ?? '';
  if (encoding !== 'UTF8') {
    throw new PermanentError(`PostgreSQL database "${database}" has encoding ${encoding}: ${UTF8_HINT}`, {
      code: 'DatabaseEncoding',
    });
  }
}

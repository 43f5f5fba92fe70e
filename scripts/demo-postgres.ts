/**
 * The demo's PostgreSQL side: the server scripts/local-services.sh starts
 * (POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, as that
 * script reads them), the destination config of the demo's table, and the
 * table's rows counted per interval, read back with `pg`.
 */
import { Client } from 'pg';

/** The local server, as local-services.sh starts it: loopback, user/password/database bx. */
export const DEMO_POSTGRES = {
  host: '127.0.0.1',
  port: Number(process.env.POSTGRES_PORT || 5432),
  user: process.env.POSTGRES_USER || 'bx',
  password: process.env.POSTGRES_PASSWORD || 'bx',
  database: process.env.POSTGRES_DB || 'bx',
  // BX_DEMO_PG_TABLE lets tests run the demo beside a user's.
  table: process.env.BX_DEMO_PG_TABLE || 'batch_exports_demo',
};

/** `bx.public.batch_exports_demo`: where the demo's Postgres export writes. */
export const DEMO_PG_TABLE_NAME = `${DEMO_POSTGRES.database}.public.${DEMO_POSTGRES.table}`;

/**
 * The export's destination config. The local server's certificate is
 * self-signed (test/fixtures/tls/cert.pem): `require` encrypts without
 * checking it; give the certificate as `ca_cert` with `verify-full` to check it.
 */
export function demoPostgresDestination() {
  const { host, port, user, password, database, table } = DEMO_POSTGRES;
  return {
    type: 'Postgres',
    config: { host, port, user, password, database, table_name: table, sslmode: 'require' },
  } as const;
}

/** A psql command that counts the table's rows. */
export function demoPsqlCommand(): string {
  const { host, port, user, password, database, table } = DEMO_POSTGRES;
  return `PGPASSWORD=${password} psql -h ${host} -p ${port} -U ${user} ${database} -c 'SELECT count(*) FROM "${table}"'`;
}

async function connect(): Promise<Client> {
  const { host, port, user, password, database } = DEMO_POSTGRES;
  const client = new Client({ host, port, user, password, database, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`PostgreSQL is not reachable at ${host}:${port} (POSTGRES_PORT) as ${user}: ${why}`);
  }
  return client;
}

/** Drops the demo's table of an earlier demo, so the counts printed are this demo's; the export creates it again. */
export async function resetDemoTable(): Promise<void> {
  const client = await connect();
  try {
    await client.query(`DROP TABLE IF EXISTS public."${DEMO_POSTGRES.table}"`);
  } finally {
    await client.end();
  }
}

/** How many rows of the team the demo's table holds in each `[start, end)` of `inserted_at` (ISO times). */
export async function rowsPerInterval(
  intervals: Array<[start: string, end: string]>,
  teamId: number,
): Promise<number[]> {
  const client = await connect();
  try {
    const counts: number[] = [];
    for (const [start, end] of intervals) {
      const { rows } = await client.query<{ rows: string }>(
        `SELECT count(*) AS rows FROM public."${DEMO_POSTGRES.table}"
          WHERE "team_id" = $1 AND "inserted_at" >= $2 AND "inserted_at" < $3`,
        [teamId, start, end],
      );
      counts.push(Number(rows[0]!.rows));
    }
    return counts;
  } finally {
    await client.end();
  }
}

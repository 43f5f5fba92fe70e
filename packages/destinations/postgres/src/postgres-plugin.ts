import { postgresConfigSchema, type PostgresConfig } from './postgres-config';
import { postgresOptionsFromEnv } from './postgres-options';

type Destination = typeof import('./postgres-destination');

/**
 * The Postgres destination as the registry sees it (entry point
 * `@bx/destination-postgres/plugin`): its config schema, which fields are
 * secrets, which say where it connects and as whom (a PATCH that changes one
 * must carry the secrets again), where it connects (for a network policy), its
 * check and its writer. This module loads zod and core only; the check and
 * the writer load `pg` on first use.
 */
export const postgresPlugin = {
  type: 'Postgres',
  configSchema: postgresConfigSchema,
  secretFields: ['password'],
  connectionFields: ['host', 'port', 'database', 'user'],
  endpoints: (config: PostgresConfig): Array<{ host: string; port: number }> => [
    { host: config.host, port: config.port },
  ],
  check: (config: PostgresConfig, opts?: { signal?: AbortSignal }): Promise<void> =>
    new (require('./postgres-destination') as Destination).PostgresDestination(config).check(opts),
  createWriter: (config: PostgresConfig) =>
    new (require('./postgres-destination') as Destination).PostgresDestination(
      config,
      postgresOptionsFromEnv(process.env),
    ),
} as const;

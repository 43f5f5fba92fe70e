import type { DestinationWriter } from '@bx/batch';
import type { DestinationPlugin } from '@bx/core';
import { postgresConfigSchema, type PostgresConfig } from './postgres-config';
import { postgresEnvironmentProblems, postgresOptionsFromEnv } from './postgres-options';

type Destination = typeof import('./postgres-destination');

/**
 * The Postgres destination as the registry sees it (entry point
 * `@bx/destination-postgres/plugin`). This module loads zod and core only;
 * the check loads `pg`, the writer `pg` and the batch encoder (the native
 * addon), on first use; the read-back (npm run verify) loads `pg`. The writer takes the
 * worker's POSTGRES_* settings (postgres-options.ts).
 */
export const postgresPlugin: DestinationPlugin<PostgresConfig, DestinationWriter> = {
  type: 'Postgres',
  configSchema: postgresConfigSchema,
  secretFields: ['password'],
  // sslmode and ca_cert decide who may answer for the host: weakening them keeps nobody's
  // password safe from a server that asks for it in clear.
  connectionFields: ['host', 'port', 'database', 'user', 'sslmode', 'ca_cert'],
  endpoints: (config) => [{ host: config.host, port: config.port }],
  check: (config, opts) =>
    (require('./postgres-check') as typeof import('./postgres-check')).checkPostgres(config, opts),
  createWriter: (config, opts) =>
    new (require('./postgres-destination') as Destination).PostgresDestination(config, {
      ...postgresOptionsFromEnv(process.env),
      network: opts?.network,
    }),
  environmentProblems: postgresEnvironmentProblems,
  readBack: (config, request) =>
    (require('./postgres-read-back') as typeof import('./postgres-read-back')).readBackPostgres(config, request),
};

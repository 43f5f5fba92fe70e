import { postgresConfigSchema, type PostgresConfig } from '@bx/core';
import { PostgresDestination } from './postgres-destination';

/**
 * The Postgres destination as the registry sees it: its config schema, which
 * fields are secrets, which say where it connects and as whom (a PATCH that
 * changes one must carry the secrets again), where it connects (for a
 * network policy), its check and its writer.
 */
export const postgresPlugin = {
  type: 'Postgres',
  configSchema: postgresConfigSchema,
  secretFields: ['password'],
  connectionFields: ['host', 'port', 'database', 'user'],
  endpoints: (config: PostgresConfig): Array<{ host: string; port: number }> => [
    { host: config.host, port: config.port },
  ],
  check: (config: PostgresConfig): Promise<void> => new PostgresDestination(config).check(),
  writer: (config: PostgresConfig): PostgresDestination => new PostgresDestination(config),
} as const;

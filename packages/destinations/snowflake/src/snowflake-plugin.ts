import type { DestinationWriter } from '@bx/batch';
import { endpointOfUrl, type DestinationPlugin } from '@bx/core';
import { snowflakeConfigSchema, type SnowflakeConfig } from './snowflake-config';

type Destination = typeof import('./snowflake-destination');

/**
 * The Snowflake destination as the registry sees it (entry point
 * `@bx/destination-snowflake/plugin`). This module loads zod and core only; the
 * check, the writer and the read-back (npm run verify) load snowflake-sdk on first use.
 */
export const snowflakePlugin: DestinationPlugin<SnowflakeConfig, DestinationWriter> = {
  type: 'Snowflake',
  configSchema: snowflakeConfigSchema,
  secretFields: ['password', 'private_key', 'private_key_passphrase'],
  connectionFields: ['access_url', 'account', 'user'],
  // The access URL, or the account's own host (as the SDK builds it).
  endpoints: (config) => [endpointOfUrl(config.access_url ?? `https://${config.account}.snowflakecomputing.com`)],
  check: (config, opts) =>
    new (require('./snowflake-destination') as Destination).SnowflakeDestination(config).check(opts),
  createWriter: (config, opts) =>
    new (require('./snowflake-destination') as Destination).SnowflakeDestination(config, { network: opts?.network }),
  readBack: (config, request) =>
    (require('./snowflake-read-back') as typeof import('./snowflake-read-back')).readBackSnowflake(config, request),
};

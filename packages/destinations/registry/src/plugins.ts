import type { DestinationWriter } from '@bx/batch';
import type { DestinationPlugin } from '@bx/core';
import { s3Plugin } from '@bx/destination-s3/plugin';
import { snowflakePlugin } from '@bx/destination-snowflake/plugin';
import { postgresPlugin } from '@bx/destination-postgres/plugin';

/** A plug-in as the registry holds it: its own config, a writer of batches. */
export type WriterPlugin = DestinationPlugin<Record<string, unknown>, DestinationWriter>;

/**
 * Every destination, in the order the API documents them. Adding one is a
 * package under packages/destinations/ that exports a DestinationPlugin from
 * a light entry point, and one line here.
 */
export const DESTINATION_PLUGINS: readonly WriterPlugin[] = [
  registered(s3Plugin),
  registered(snowflakePlugin),
  registered(postgresPlugin),
];

/**
 * A plug-in with its config type forgotten: the registry only ever passes a
 * plug-in a config that plug-in's own schema accepted.
 */
function registered<C extends Record<string, unknown>>(plugin: DestinationPlugin<C, DestinationWriter>): WriterPlugin {
  return plugin as unknown as WriterPlugin;
}

import type { DestinationWriter } from '@bx/batch';
import {
  EVENTS_SCHEMA,
  PermanentError,
  type ConfigProblem,
  type DestinationCheckOptions,
  type DestinationConfig,
  type DestinationEndpoint,
  type DestinationWriterOptions,
  type IntervalReadBack,
  type ModelSchema,
  type NetworkPolicy,
  type ReadBackRequest,
} from '@bx/core';
import { z } from 'zod';
import { DESTINATION_PLUGINS, type WriterPlugin } from './plugins';

const byType = new Map(DESTINATION_PLUGINS.map((plugin) => [plugin.type, plugin]));

/** The `destination.type` values, in the registry's order. */
export const DESTINATION_TYPES = DESTINATION_PLUGINS.map((plugin) => plugin.type) as [string, ...string[]];

/** Every plug-in's secret fields: never in a response, never in a log line. */
export const DESTINATION_SECRET_FIELDS: readonly string[] = [
  ...new Set(DESTINATION_PLUGINS.flatMap((plugin) => plugin.secretFields)),
];

/** `{type, config}`: a union on `type` of the plug-ins' config schemas (the export schemas embed it). */
export const destinationSchema: z.ZodType<DestinationConfig> = z.discriminatedUnion(
  'type',
  DESTINATION_PLUGINS.map((plugin) =>
    z.strictObject({ type: z.literal(plugin.type), config: plugin.configSchema }),
  ) as [z.ZodObject<{ type: z.ZodLiteral<string>; config: z.ZodType<Record<string, unknown>> }>],
);

/** What is wrong with the environment variables the plug-ins' writers read: the worker stops at start on them. */
export function destinationEnvironmentProblems(env: NodeJS.ProcessEnv): ConfigProblem[] {
  return DESTINATION_PLUGINS.flatMap((plugin) => plugin.environmentProblems?.(env) ?? []);
}

/** The plug-in of a destination type; a type no plug-in has (an export stored by a newer version) is permanent. */
export function destinationPlugin(type: string): WriterPlugin {
  const plugin = byType.get(type);
  if (!plugin) throw new PermanentError(`destination ${type} is not available`, { code: 'UnsupportedDestination' });
  return plugin;
}

/** The secret fields of a type (every plug-in's for a type no plug-in has). */
export function secretFieldsOf(type: string): readonly string[] {
  return byType.get(type)?.secretFields ?? DESTINATION_SECRET_FIELDS;
}

/**
 * The values of a destination's secrets: what no message may carry, even
 * one a server wrote back what it was sent into (shownErrorMessage).
 */
export function secretValuesOf(destination: DestinationConfig): unknown[] {
  return secretFieldsOf(destination.type).map((field) => destination.config[field]);
}

/**
 * The destination's settings that are not secret, as strings (a GET shows
 * them): shownErrorMessage leaves them as they are even when one holds a
 * secret, so redaction never says that a setting a token holder typed is a
 * secret.
 */
export function visibleValuesOf(destination: DestinationConfig): string[] {
  const secrets = new Set(secretFieldsOf(destination.type));
  return Object.entries(destination.config)
    .filter(([field]) => !secrets.has(field))
    .flatMap(([, value]) => (Array.isArray(value) ? value : [value]))
    .filter((value): value is string => typeof value === 'string');
}

/** A copy of a destination without its secret values, for responses. */
export function withoutSecrets(destination: DestinationConfig): DestinationConfig {
  const secrets = secretFieldsOf(destination.type);
  const config = { ...destination.config };
  for (const field of secrets) delete config[field];
  return { type: destination.type, config };
}

/** The config fields of a type that say where the data goes. */
export function connectionFields(type: string): readonly string[] {
  return destinationPlugin(type).connectionFields;
}

/** The network endpoints a destination connects to. */
export function destinationEndpoints(destination: DestinationConfig): DestinationEndpoint[] {
  return destinationPlugin(destination.type).endpoints?.(destination.config) ?? [];
}

/**
 * Checks where the destination connects against the network policy, after
 * resolving each host: a PermanentError `DestinationNotAllowed` naming the
 * address when one is refused. The clients check again when they connect.
 */
export async function checkEndpoints(destination: DestinationConfig, network: NetworkPolicy): Promise<void> {
  for (const endpoint of destinationEndpoints(destination)) await network.checkHost(endpoint.host, endpoint.port);
}

/**
 * Reaches the destination with its credentials (POST /api/exports/:id/test); rejects with its error.
 * With `opts.network`, a refused destination is not contacted at all.
 */
export async function checkDestination(destination: DestinationConfig, opts?: DestinationCheckOptions): Promise<void> {
  if (opts?.network) await checkEndpoints(destination, opts.network);
  await destinationPlugin(destination.type).check(destination.config, opts);
}

/** The writer of a run: loads the destination's data path (and its native code) on first use. */
export async function writerFor(
  destination: DestinationConfig,
  opts: DestinationWriterOptions = {},
): Promise<DestinationWriter> {
  if (opts.network) await checkEndpoints(destination, opts.network);
  return destinationPlugin(destination.type).createWriter(destination.config, opts);
}

/**
 * Why `npm run verify` cannot read the destination back per interval for an
 * export of `model`, or null when it can: asked before anything is read.
 */
export function readBackRefusal(destination: DestinationConfig, model: ModelSchema): string | null {
  const plugin = destinationPlugin(destination.type);
  if (!plugin.readBack) return `destination ${destination.type} cannot be read back yet`;
  if (model.load.kind === 'upsert' && !plugin.readsBackUpserts) {
    return (
      `${destination.type} upserts ${model.name} records by key across intervals, so no interval's records ` +
      'can be read back; the reconciler checks its receipts against the source'
    );
  }
  return null;
}

/** What the destination holds of each interval (npm run verify); a destination that cannot be read back is permanent. */
export async function readBackDestination(
  destination: DestinationConfig,
  request: ReadBackRequest,
): Promise<Map<number, IntervalReadBack>> {
  const refused = readBackRefusal(destination, request.model ?? EVENTS_SCHEMA);
  if (refused) throw new PermanentError(refused, { code: 'UnsupportedDestination' });
  if (request.network) await checkEndpoints(destination, request.network);
  return destinationPlugin(destination.type).readBack!(destination.config, request);
}

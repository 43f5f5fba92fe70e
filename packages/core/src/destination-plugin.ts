import type { z } from 'zod';
import type { Span } from './interval-calendar';
import type { ModelSchema } from './model-plugin';
import type { NetworkPolicy } from './network-policy';

/**
 * A destination as an export stores it: the plug-in's `type` and a config
 * its `configSchema` accepted (defaults filled in). Secrets included: the
 * API shows it through the registry's `withoutSecrets`.
 */
export interface DestinationConfig {
  type: string;
  config: Record<string, unknown>;
}

/**
 * An export's event filters: of its team's rows, those it exports (`event`
 * in `include_events` when that is not empty, and not in `exclude_events`).
 * Another export of the team may write the others into the same table.
 */
export interface EventFilter {
  readonly include_events: readonly string[];
  readonly exclude_events: readonly string[];
}

/** A network endpoint a destination's config makes the worker (and the API's test) connect to. */
export interface DestinationEndpoint {
  /** The URL when the config names one (an S3-compatible endpoint, a Snowflake access URL). */
  url?: string;
  host: string;
  /** Default: the protocol's. */
  port?: number;
}

export interface DestinationCheckOptions {
  /** Aborts the check (the HTTP request went away). */
  signal?: AbortSignal;
  /** The export's model: a table destination checks an existing table can hold its records (default: events). */
  model?: ModelSchema;
  /** Which addresses the check may connect to (ALLOWED_PRIVATE_DESTINATIONS); checked when connecting. */
  network?: NetworkPolicy;
}

export interface DestinationWriterOptions {
  /** Which addresses the writer may connect to (ALLOWED_PRIVATE_DESTINATIONS); checked when connecting. */
  network?: NetworkPolicy;
}

/** What `npm run verify` asks a destination to read back. */
export interface ReadBackRequest {
  exportId: string;
  teamId: number;
  /** Intervals of the export, sorted, not overlapping; whole seconds. */
  spans: readonly Span[];
  /** The export's model: the records' receipt key is what is hashed. Events when absent. */
  model?: ModelSchema;
  /** The export's event filters: a table may hold other exports' events of the team too. None: every event. */
  events?: EventFilter;
  signal?: AbortSignal;
  /**
   * Which addresses the read-back may connect to (ALLOWED_PRIVATE_DESTINATIONS): checked before
   * the first connection and on every one, as for runs. Without it, anywhere.
   */
  network?: NetworkPolicy;
}

/** What a destination holds for one interval, in the terms of a receipt. */
export interface IntervalReadBack {
  records: number;
  /** Sum modulo 2^64 of sipHash64 of each held record's receipt key (events: uuid), decimal (ReceiptChecksum). */
  checksum: string;
  /** The version of the receipt the destination keeps for the interval; null when it keeps none. */
  receiptVersion: number | null;
}

/**
 * One destination, as its package describes it to the rest of the system
 * (packages/destinations/<name>/src/*-plugin.ts). The registry
 * (packages/destinations/registry) lists the plug-ins; the API, operations
 * and the worker only ever go through it, never switch on `type`.
 *
 * The module that exports a plug-in loads zod and core only: `check` and
 * `createWriter` load the destination's client and writer on first call, so
 * the API, scheduler and CLI never load the worker's data path (or its
 * native code). `W` is the writer (`DestinationWriter` of @bx/batch), a
 * parameter so that core need not know the batch.
 */
export interface DestinationPlugin<C extends Record<string, unknown> = Record<string, unknown>, W = unknown> {
  /** The `destination.type` of the API: `S3`, `Snowflake`. */
  readonly type: string;
  /** The strict config schema, with defaults; the export schemas and the OpenAPI document are built from it. */
  readonly configSchema: z.ZodType<C>;
  /** Config fields never returned by the API and never logged. */
  readonly secretFields: ReadonlyArray<keyof C & string>;
  /**
   * Config fields that say where the data goes or who logs in (host, bucket,
   * account, user): a PATCH that changes one must carry the secrets again.
   */
  readonly connectionFields: ReadonlyArray<keyof C & string>;
  /** The endpoints this config connects to. */
  endpoints?(config: C): DestinationEndpoint[];
  /** Reaches the destination and checks it can be written (POST /api/exports/:id/test); throws a BatchExportError. */
  check(config: C, opts?: DestinationCheckOptions): Promise<void>;
  /** The writer of a run (the worker's data path). */
  createWriter(config: C, opts?: DestinationWriterOptions): W | Promise<W>;
  /**
   * The worker's environment variables of this destination that are set and
   * invalid, each named: the worker checks them at start and stops on any, as
   * for its own configuration (a bad one must not fail every run for good).
   */
  environmentProblems?(env: NodeJS.ProcessEnv): ConfigProblem[];
  /**
   * Reads back what the destination holds of the export's rows in each
   * interval (`npm run verify`), per interval start; an interval it holds
   * nothing of may be missing. Loads the destination's client on first call.
   */
  readBack?(config: C, request: ReadBackRequest): Promise<Map<number, IntervalReadBack>>;
  /**
   * Whether `readBack` holds each interval's records apart for a model
   * loaded by upsert (persons): S3 writes each interval's records to objects
   * of their own; a table merges them by key across intervals, so only
   * models that replace an interval's rows can be read back from it.
   */
  readonly readsBackUpserts?: boolean;
}

/** A bad environment variable and what it takes. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

/** The endpoint of an http(s) URL, its port filled in. */
export function endpointOfUrl(href: string): DestinationEndpoint {
  const url = new URL(href);
  const port = url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
  return { url: url.href, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

import { INTERVALS, RUN_STATUSES } from '@bx/core';
import { DESTINATION_PLUGINS, DESTINATION_SECRET_FIELDS } from '@bx/destinations';
import { MODEL_NAMES } from '@bx/models';
import { createExportSchema, patchExportSchema } from '@bx/operations';
import { RECONCILE_STATUSES } from '@bx/store';
import { z } from 'zod';

type Schema = Record<string, unknown>;

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const dateTime: Schema = { type: 'string', format: 'date-time' };
const object = (properties: Record<string, Schema>, optional: string[] = []): Schema => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((key) => !optional.includes(key)),
  additionalProperties: false,
});

/**
 * A request body schema from the zod schema the API validates it with, so the
 * document cannot drift from the checks. Rules zod runs in code (valid time
 * zone, prefix variables, codec per format) are not in it.
 */
function fromZod(schema: z.ZodType, io: 'input' | 'output' = 'input'): Schema {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Schema;
  return json;
}

/** A destination config as responses show it: the stored fields minus the plug-in's secrets. */
function withoutSecretFields(schema: z.ZodType, secrets: readonly string[]): Schema {
  const json = fromZod(schema, 'output') as { properties: Record<string, Schema>; required?: string[] };
  const secret = (key: string) => secrets.includes(key);
  return {
    ...json,
    properties: Object.fromEntries(Object.entries(json.properties).filter(([key]) => !secret(key))),
    required: (json.required ?? []).filter((key) => !secret(key)),
  };
}

const exportProperties: Record<string, Schema> = {
  id: { type: 'string', format: 'uuid' },
  name: { type: 'string' },
  team_id: { type: 'integer', minimum: 0 },
  interval: { enum: [...INTERVALS] },
  timezone: { type: 'string', description: 'IANA time zone name' },
  model: {
    enum: [...MODEL_NAMES],
    description:
      'What the export carries: `events`, or `persons` (one record per distinct_id whose person or mapping changed in the interval; include_events and exclude_events do not apply).',
  },
  include_events: { type: 'array', items: { type: 'string' } },
  exclude_events: { type: 'array', items: { type: 'string' } },
  paused: { type: 'boolean' },
  paused_reason: {
    ...nullable({ type: 'string' }),
    description: 'Why the system paused the export (after consecutive failed runs); null otherwise.',
  },
  auto_repair: {
    type: 'boolean',
    description:
      'Re-export an interval the reconciler finds changed at the source (late or deleted rows); false: it stays `mismatch` until a manual retry.',
  },
  start_at: nullable(dateTime),
  end_at: nullable(dateTime),
  destination: ref('Destination'),
  created_at: dateTime,
  updated_at: dateTime,
};

const backfillStatuses = ['Running', 'Completed', 'Failed', 'Cancelled'];

const backfillProperties: Record<string, Schema> = {
  id: { type: 'string' },
  export_id: { type: 'string' },
  status: { enum: backfillStatuses },
  start_at: dateTime,
  end_at: dateTime,
  force: { type: 'boolean' },
  total_runs: { type: 'integer', minimum: 0, description: 'Intervals in the range.' },
  finished_runs: {
    type: 'integer',
    minimum: 0,
    description: 'Intervals it brought to Completed, Failed or Cancelled (at cancel, those never started too).',
  },
  failed_runs: { type: 'integer', minimum: 0 },
  cancelled_runs: { type: 'integer', minimum: 0 },
  skipped_runs: {
    type: 'integer',
    minimum: 0,
    description: 'Intervals it did not export: exported before (without force), or queued or running elsewhere.',
  },
  records_completed: { type: 'integer', minimum: 0, description: 'Rows of the runs it completed.' },
  progress: { type: 'number', minimum: 0, maximum: 1, description: '(finished_runs + skipped_runs) / total_runs' },
  created_at: dateTime,
  finished_at: nullable(dateTime),
};

export const schemas: Record<string, Schema> = {
  ErrorDetail: object({ field: { type: 'string' }, message: { type: 'string' } }),
  Error: object({
    error: object({
      code: {
        type: 'string',
        description:
          'invalid_input, secrets_required (a PATCH moving the destination without its secrets), ' +
          'destination_not_allowed (a private address ALLOWED_PRIVATE_DESTINATIONS does not list), unauthorized, ' +
          'cross_site, csrf_failed, not_found, method_not_allowed, conflict, concurrent_update (an export changed by ' +
          'too many writers at once: try again), too_large, too_many_requests, ...',
        examples: ['invalid_input', 'secrets_required', 'destination_not_allowed', 'unauthorized', 'not_found'],
      },
      message: { type: 'string' },
      details: { type: 'array', items: ref('ErrorDetail') },
    }),
  }),
  Health: object({
    status: { enum: ['ok', 'degraded'] },
    redis: { enum: ['ok', 'down'] },
    clickhouse: { enum: ['ok', 'down'] },
  }),
  // `<type>Config` per destination plug-in.
  ...Object.fromEntries(
    DESTINATION_PLUGINS.map((plugin) => [
      `${plugin.type}Config`,
      withoutSecretFields(plugin.configSchema, plugin.secretFields),
    ]),
  ),
  Destination: {
    description: `Secret fields (${DESTINATION_SECRET_FIELDS.join(', ')}) are never returned.`,
    oneOf: DESTINATION_PLUGINS.map((plugin) =>
      object({ type: { const: plugin.type }, config: ref(`${plugin.type}Config`) }),
    ),
  },
  Export: object(exportProperties),
  ExportWithRuns: object({
    ...exportProperties,
    latest_runs: { type: 'array', items: ref('Run'), description: 'Up to 10 runs, newest interval first.' },
  }),
  ExportList: object({
    results: { type: 'array', items: ref('Export') },
    next: {
      ...nullable({ type: 'string' }),
      description: 'Cursor of the next page (also when the page stopped early at about 4 MiB); null on the last page.',
    },
  }),
  ExportCreate: fromZod(createExportSchema),
  ExportPatch: {
    ...fromZod(patchExportSchema),
    description: 'Fields to change. `destination.config` is merged into the current one, so secrets may be left out.',
  },
  Unpause: object({ backfill: { type: 'boolean', description: 'Also export the intervals missed while paused.' } }, [
    'backfill',
  ]),
  TestResult: object(
    {
      status: { enum: ['ok', 'error'] },
      message: {
        type: 'string',
        description:
          "One line, without the export's secrets; the destination server's own words in it are quoted, control characters escaped.",
      },
      code: nullable({
        type: 'string',
        description:
          "Why it failed: ours, or the server's own code when it is a plain word (`AccessDenied`), else `Unknown`.",
      }),
      retryable: { type: 'boolean' },
    },
    ['code', 'retryable'],
  ),
  Run: object({
    id: { type: 'string' },
    export_id: { type: 'string' },
    data_interval_start: dateTime,
    data_interval_end: dateTime,
    status: { enum: [...RUN_STATUSES] },
    attempts: { type: 'integer', minimum: 0 },
    records_completed: { type: 'integer', minimum: 0 },
    bytes_exported: { type: 'integer', minimum: 0 },
    files: { type: 'array', items: { type: 'string' } },
    error: nullable({
      type: 'string',
      description:
        "Why the last attempt failed: one line, without the export's secrets, the destination's words quoted.",
    }),
    backfill_id: nullable({ type: 'string' }),
    created_at: dateTime,
    started_at: nullable(dateTime),
    finished_at: nullable(dateTime),
    receipt: { ...nullable(ref('Receipt')), description: 'What the completed run wrote; null until then.' },
  }),
  Receipt: object({
    records: { type: 'integer', minimum: 0 },
    checksum: {
      type: 'string',
      pattern: '^[0-9]+$',
      description:
        "Sum modulo 2^64 of sipHash64 of each exported record's identity as text, in decimal: events their uuid " +
        '(ClickHouse: sum(sipHash64(toString(uuid)))), persons their distinct_id (sum(sipHash64(distinct_id))).',
    },
    min_inserted_at: {
      ...nullable(dateTime),
      description: 'Least inserted_at (persons: _inserted_at) of the records.',
    },
    max_inserted_at: { ...nullable(dateTime), description: 'Greatest inserted_at (persons: _inserted_at).' },
    files: { type: 'array', items: { type: 'string' } },
    version: { type: 'integer', minimum: 1, description: 'Counts rewrites of the interval.' },
  }),
  Reconciliation: object({
    results: {
      type: 'array',
      description: 'Completed intervals in the reconcile window (and those left mismatched), newest first.',
      items: object({
        data_interval_start: dateTime,
        data_interval_end: dateTime,
        source_records: { type: 'integer', minimum: 0, description: 'Rows the source holds for the interval now.' },
        exported_records: {
          type: 'integer',
          minimum: 0,
          description: "Rows the interval's receipt says were exported.",
        },
        status: {
          enum: [...RECONCILE_STATUSES],
          description:
            '`ok`: equal (count and checksum); `mismatch`: the source changed since (late or deleted rows); `repairing`: being re-exported; `repaired`: re-exported and equal.',
        },
        checked_at: dateTime,
      }),
    },
  }),
  RunLogs: object({
    results: {
      type: 'array',
      items: object({ timestamp: dateTime, level: { type: 'string' }, message: { type: 'string' } }),
    },
  }),
  RunList: object({
    results: { type: 'array', items: ref('Run') },
    next: { ...nullable({ type: 'string' }), description: 'Cursor of the next page; null on the last page.' },
  }),
  BackfillCreate: object(
    {
      start_at: dateTime,
      end_at: dateTime,
      force: { type: 'boolean', description: 'Export intervals exported before again.' },
      dry_run: { type: 'boolean', description: 'Only answer the plan; create nothing.' },
      confirm: { type: 'boolean', description: 'Needed above 1,000 intervals.' },
    },
    ['force', 'dry_run', 'confirm'],
  ),
  Backfill: object(backfillProperties),
  BackfillList: object({ results: { type: 'array', items: ref('Backfill') } }),
  BackfillPlan: object({
    start_at: { ...dateTime, description: "Start of the range's first interval (aligned in the export's time zone)." },
    end_at: { ...dateTime, description: "End of the range's last interval: the backfill covers whole intervals." },
    total_runs: { type: 'integer', minimum: 0, description: 'Intervals in the range.' },
    to_export: { type: 'integer', minimum: 0, description: 'Intervals the backfill would export.' },
    already_exported: {
      type: 'integer',
      minimum: 0,
      description: 'Intervals a run completed for before, exactly (same start and end).',
    },
    in_progress: { type: 'integer', minimum: 0, description: 'Intervals queued or running now (never started again).' },
  }),
};

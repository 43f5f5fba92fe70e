import { DateTime } from 'luxon';
import { z } from 'zod';
import type { DestinationConfig } from './destination-plugin';
import { ValidationError } from './errors';
import { INTERVALS, isValidTimezone, type IntervalName } from './interval-calendar';
import { hasLoneSurrogate } from './unicode-text';

/** A batch export as stored. Secrets live in `destination.config`. */
export interface BatchExport {
  id: string;
  name: string;
  team_id: number;
  interval: IntervalName;
  timezone: string;
  /** The model exported (a registered model's name): `events`, `persons`. */
  model: string;
  include_events: string[];
  exclude_events: string[];
  paused: boolean;
  /**
   * Re-export an interval the reconciler finds changed at the source (late or
   * deleted rows). False: the interval stays `mismatch` until a manual retry.
   * Absent on exports stored before it existed: true.
   */
  auto_repair?: boolean;
  /** Why the system paused the export (auto-pause after failures); null when running or paused by a user. */
  paused_reason?: string | null;
  start_at: string | null;
  end_at: string | null;
  destination: DestinationConfig;
  created_at: string;
  updated_at: string;
}

/** Instants before this (2100-01-01, epoch ms) are accepted. */
const INSTANT_MAX_MS = Date.UTC(2100, 0, 1);
/** 0000-01-01T00:00:00Z in epoch ms (Date.UTC reads years 0 to 99 as 1900 to 1999). */
const YEAR_0000_MS = -62_167_219_200_000;
/** The UTC offset that ends the time of an ISO 8601 date-time (`+05:30`, `-0800`, `+01`): hours, minutes. */
const TIME_OFFSET = /T[^+-]*[+-](\d\d):?(\d\d)?$/i;

/**
 * Why the UTC offset of `value` is none a clock shows, or null: luxon reads
 * any two digits (`+24:00` as a day earlier, `+00:60` as an hour), ISO 8601
 * and RFC 3339 allow hours 00-23 and minutes 00-59.
 */
function offsetError(value: string): string | null {
  const match = TIME_OFFSET.exec(value);
  if (!match) return null;
  const [hours, minutes] = [Number(match[1]), Number(match[2] ?? 0)];
  return hours > 23 || minutes > 59
    ? `'${value}' has a UTC offset out of range (hours 00 to 23, minutes 00 to 59)`
    : null;
}

/**
 * Why luxon refused a value: a part out of range (`2023-02-29`, a leap
 * second `23:59:60`) is named, as it is ISO 8601 in form; anything else
 * is not ISO 8601.
 */
function notAnInstant(explanation: string | null): string {
  const range = /^you specified (-?\d+) \(of type number\) as an? (\w+), which is invalid$/.exec(explanation ?? '');
  return range ? `does not exist: ${range[2]} ${range[1]} is out of range` : 'is not an ISO 8601 date-time';
}

/**
 * ISO 8601 instant with its date, read as the API reads every instant; an
 * offset-less value is read as UTC. Normalised to `...Z`. Only instants in
 * `[min, max)` (epoch ms) are taken; `range` says which in the refusal.
 */
function isoInstant(min: number, max: number, range: string) {
  return z
    .string()
    .max(64)
    .transform((value, ctx) => {
      const parsed = DateTime.fromISO(value, { zone: 'utc' });
      // luxon also reads a time alone (`10:00`, `10:00+05:00`) as today's: an instant needs its date.
      if (!parsed.isValid || !/^\d{4}/.test(value)) {
        ctx.addIssue({ code: 'custom', message: `'${value}' ${notAnInstant(parsed.invalidExplanation)}` });
        return z.NEVER;
      }
      const offset = offsetError(value);
      if (offset) {
        ctx.addIssue({ code: 'custom', message: offset });
        return z.NEVER;
      }
      if (parsed.toMillis() < min || parsed.toMillis() >= max) {
        ctx.addIssue({ code: 'custom', message: `'${value}' is outside ${range}` });
        return z.NEVER;
      }
      return parsed.toUTC().toISO()!;
    });
}

/**
 * An instant that bounds a query or a schedule. ClickHouse's DateTime holds
 * 1970 to 2106: instants outside could never bound a query.
 */
export const instant = isoInstant(0, INSTANT_MAX_MS, '1970-01-01 to 2100-01-01');

/**
 * An instant that only filters what is stored (the runs list's `start` and
 * `end`): any four-digit year. `end=9999-12-31` means "no end" and was
 * refused as outside 1970 to 2100.
 */
export const filterInstant = isoInstant(YEAR_0000_MS, Date.UTC(10000, 0, 1), '0000-01-01 to 9999-12-31');

/** Most names `include_events` or `exclude_events` may hold. */
export const MAX_EVENT_NAMES = 100;
/** Longest event name in `include_events` or `exclude_events`, in characters. */
export const MAX_EVENT_NAME_LENGTH = 200;

/** Text of a name the user gives: a lone surrogate (`"\ud800"`) is refused, not turned into U+FFFD. */
const wellFormed = (text: z.ZodString) =>
  text.refine(
    (value) => !hasLoneSurrogate(value),
    'must be valid Unicode (a lone surrogate such as \\ud800 is not a character)',
  );

const exportName = () =>
  wellFormed(z.string().trim().min(1).max(255)).describe(
    '1 to 255 characters, valid Unicode (a lone surrogate is refused)',
  );

// Bounded: each name goes into every run's SQL and the export's record (300 exports of 1,000
// long names once added 138 MB to Redis and 119 MB to one GET /api/exports).
const eventNames = z
  .array(
    wellFormed(
      z
        .string()
        .min(1, 'an event name may not be empty')
        .max(MAX_EVENT_NAME_LENGTH, `an event name has at most ${MAX_EVENT_NAME_LENGTH} characters`),
    ),
  )
  .max(MAX_EVENT_NAMES, `at most ${MAX_EVENT_NAMES} event names`)
  .describe(
    `At most ${MAX_EVENT_NAMES} names of 1 to ${MAX_EVENT_NAME_LENGTH} characters, valid Unicode (a lone surrogate is refused)`,
  );
const timezone = z.string().refine(isValidTimezone, 'must be an IANA time zone name, e.g. Europe/Berlin');

/** A model as the export schemas see it: its name, and whether event filters apply to it. */
export interface ModelChoice {
  name: string;
  eventFilters: boolean;
}

/**
 * The API's input schemas for exports, around the schema of a destination
 * (the registry's union of every plug-in's config schema) and the models
 * (the model registry's, the first the default): core knows neither.
 * packages/operations builds them once.
 */
export function exportInputSchemas(
  destination: z.ZodType<DestinationConfig>,
  types: readonly [string, ...string[]],
  models: readonly [ModelChoice, ...ModelChoice[]],
) {
  const names = models.map((m) => m.name) as [string, ...string[]];
  const createExportSchema = z
    .strictObject({
      name: exportName(),
      team_id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      interval: z.enum(INTERVALS),
      timezone: timezone.default('UTC'),
      model: z.enum(names).default(names[0]),
      include_events: eventNames.default([]),
      exclude_events: eventNames.default([]),
      paused: z.boolean().default(false),
      auto_repair: z.boolean().default(true),
      start_at: instant.nullable().default(null),
      end_at: instant.nullable().default(null),
      destination,
    })
    .superRefine(checkRange)
    .superRefine((value, ctx) => checkEventFilters(models, value.model, value, ctx));

  const patchExportSchema = z
    .strictObject({
      name: exportName(),
      interval: z.enum(INTERVALS),
      timezone,
      include_events: eventNames,
      exclude_events: eventNames,
      paused: z.boolean(),
      auto_repair: z.boolean(),
      end_at: instant.nullable(),
      /** Merged into the current destination; secrets may be left out to keep them. */
      destination: z.strictObject({
        type: z.enum(types).optional(),
        config: z.record(z.string(), z.unknown()).optional(),
      }),
    })
    .partial();

  return { createExportSchema, patchExportSchema };
}

export type ExportInputSchemas = ReturnType<typeof exportInputSchemas>;
export type CreateExportInput = z.infer<ExportInputSchemas['createExportSchema']>;
export type PatchExportInput = z.infer<ExportInputSchemas['patchExportSchema']>;

/**
 * Event filters on a model without events (persons) are refused, naming the
 * field: a filter that silently did nothing would export what the user
 * meant to leave out.
 */
export function checkEventFilters(
  models: readonly ModelChoice[],
  model: string,
  value: { include_events?: readonly string[]; exclude_events?: readonly string[] },
  ctx: z.RefinementCtx,
): void {
  if (models.find((m) => m.name === model)?.eventFilters !== false) return;
  for (const field of ['include_events', 'exclude_events'] as const) {
    if (value[field]?.length) {
      ctx.addIssue({ code: 'custom', path: [field], message: `does not apply to the ${model} model` });
    }
  }
}

function checkRange(value: { start_at: string | null; end_at: string | null }, ctx: z.RefinementCtx): void {
  if (value.start_at && value.end_at && value.end_at <= value.start_at) {
    ctx.addIssue({ code: 'custom', path: ['end_at'], message: 'end_at must be after start_at' });
  }
}

/** Validates `input` against `schema`, or throws a ValidationError naming each bad field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, what = 'body'): z.infer<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.flatMap((issue) => {
    const at = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: at ? `${at}.${key}` : key,
        message: 'unknown field',
      }));
    }
    return [{ field: at || what, message: issue.message }];
  });
  const summary = details.map((d) => `${d.field}: ${d.message}`).join('; ');
  throw new ValidationError(`Invalid ${what}: ${summary}`, details);
}

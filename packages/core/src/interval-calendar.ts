import { DateTime, IANAZone } from 'luxon';

/** The schedules an export can have (contract: intervals and runs). */
export const INTERVALS = ['hour', 'day', 'week', 'every 5 minutes', 'every 15 minutes'] as const;
export type IntervalName = (typeof INTERVALS)[number];

/** A half-open span `[start, end)` in epoch milliseconds. */
export interface Span {
  start: number;
  end: number;
}

/** The index of the span holding `at` (epoch ms; spans sorted, not overlapping, `[start, end)`), or -1. */
export function spanIndexOf(spans: readonly Span[], at: number): number {
  let lo = 0;
  let hi = spans.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const span = spans[mid]!;
    if (at < span.start) hi = mid - 1;
    else if (at >= span.end) lo = mid + 1;
    else return mid;
  }
  return -1;
}

const MINUTE = 60_000;
const FIXED_LENGTH: Partial<Record<IntervalName, number>> = {
  hour: 60 * MINUTE,
  'every 5 minutes': 5 * MINUTE,
  'every 15 minutes': 15 * MINUTE,
};

/**
 * Zones always at offset 0. Luxon computes an IANA zone's offset through
 * Intl (tens of µs a call); a scheduler tick over 10,000 UTC exports calls it
 * 20,000 times.
 */
const UTC_NAMES: ReadonlySet<string> = new Set(['UTC', 'Etc/UTC']);

export function isValidTimezone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/**
 * The interval of `interval`, aligned in `timezone`, that contains `instant`.
 *
 * Hour and minute intervals are fixed lengths of absolute time aligned to the
 * local clock, so the repeated hour of a daylight-saving fall-back is two
 * intervals and the missing hour of spring-forward is none. Days and weeks
 * follow the local calendar and are 23, 24 or 25 hours long.
 */
export function intervalContaining(instant: number, interval: IntervalName, timezone: string): Span {
  const span = alignedInterval(instant, interval, timezone);
  // ClickHouse's DateTime starts at the epoch: 18.16 reads a bound before it
  // (toDateTime(-3600), the day of 1970-01-01 in Berlin) as 2106 and finds
  // nothing. The interval that holds the epoch starts there instead.
  if (span.start < 0 && instant >= 0) span.start = 0;
  return span;
}

function alignedInterval(instant: number, interval: IntervalName, timezone: string): Span {
  const fixed = FIXED_LENGTH[interval];
  if (fixed !== undefined) {
    const offset = UTC_NAMES.has(timezone) ? 0 : IANAZone.create(timezone).offset(instant) * MINUTE;
    let start = instant - mod(instant + offset, fixed);
    // An offset change inside the span (rare half-hour zones) can overshoot: re-anchor.
    if (start > instant) start -= fixed;
    if (start + fixed <= instant) start += fixed;
    return { start, end: start + fixed };
  }
  const unit = interval === 'day' ? 'day' : 'week';
  const local = DateTime.fromMillis(instant, { zone: timezone });
  const start = local.startOf(unit);
  const end = start.plus({ [unit === 'day' ? 'days' : 'weeks']: 1 }).startOf(unit);
  return { start: start.toMillis(), end: end.toMillis() };
}

/**
 * The span a run starting at `cursor` covers: up to the end of the interval
 * containing it. Normally `cursor` is an interval start and this is that
 * interval. Where it is not (after the export's interval or timezone changed,
 * or at a half-hour daylight-saving shift) the span is the remainder of the
 * interval, so consecutive spans never overlap and never leave a gap.
 */
export function spanFrom(cursor: number, interval: IntervalName, timezone: string): Span {
  return { start: cursor, end: intervalContaining(cursor, interval, timezone).end };
}

/** The interval right after `span`: starts exactly where `span` ends. */
export function nextInterval(span: Span, interval: IntervalName, timezone: string): Span {
  return spanFrom(span.end, interval, timezone);
}

/**
 * Every interval that starts in `[from, to)` once `from` is aligned down to its
 * interval, oldest first. `limit` bounds the work of one call.
 */
export function intervalsBetween(
  from: number,
  to: number,
  interval: IntervalName,
  timezone: string,
  limit = Number.POSITIVE_INFINITY,
): Span[] {
  const spans: Span[] = [];
  for (const span of intervalsFrom(from, to, interval, timezone)) {
    if (spans.length >= limit) break;
    spans.push(span);
  }
  return spans;
}

/**
 * intervalsBetween for a range a request chose, giving the event loop a turn
 * after every `slice` intervals: 200,000 five-minute intervals of a zone
 * other than UTC cost about 3 s of CPU (luxon's offsets), which held every
 * request of the process, and in `npm start` its worker's lock renewals.
 */
export async function intervalsBetweenYielding(
  from: number,
  to: number,
  interval: IntervalName,
  timezone: string,
  limit = Number.POSITIVE_INFINITY,
  slice = 2000,
): Promise<Span[]> {
  const spans: Span[] = [];
  for (const span of intervalsFrom(from, to, interval, timezone)) {
    if (spans.length >= limit) break;
    spans.push(span);
    if (spans.length % slice === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return spans;
}

function* intervalsFrom(from: number, to: number, interval: IntervalName, timezone: string): Generator<Span> {
  for (let span = intervalContaining(from, interval, timezone); span.start < to;) {
    yield span;
    span = nextInterval(span, interval, timezone);
  }
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

/** `2024-01-01T00:00:00+00:00`: the form PostHog uses in keys and templates. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + '+00:00';
}

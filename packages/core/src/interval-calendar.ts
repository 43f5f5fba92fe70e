import { IANAZone } from 'luxon';

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
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
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
 * The interval of `interval`, aligned in `timezone`, that contains `instant`:
 * the one tiling of time that the scheduler, backfills and their planning
 * all walk (spanFrom, spansFrom, intervalsBetween are built on it).
 *
 * Hour and minute intervals are fixed lengths of absolute time between the
 * instants the local clock reads a multiple of the length, so the repeated
 * hour of a daylight-saving fall-back is two intervals and the missing hour
 * of spring-forward is none. A shift that moves that alignment (30 minutes
 * on Lord Howe Island for hours, Nepal's 15 minutes in 1986) is a boundary
 * too: the part of an interval on either side of it is an interval of its
 * own, never longer than the length. Days and weeks follow the local
 * calendar: a day starts at the first instant the local clock reaches its
 * 00:00 (a skipped midnight starts it at the shift, a repeated one does not
 * start it twice), so they are 23, 24 or 25 hours long (22 or 26 with a
 * 2-hour shift).
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
  if (UTC_NAMES.has(timezone)) {
    if (fixed !== undefined) {
      const start = instant - mod(instant, fixed);
      return { start, end: start + fixed };
    }
    const start = calendarStart(Math.floor(instant / DAY), interval);
    return { start: start * DAY, end: (start + (interval === 'day' ? 1 : 7)) * DAY };
  }
  const zone = IANAZone.create(timezone);
  const offset = (at: number) => zone.offset(at) * MINUTE;
  return fixed !== undefined ? fixedInterval(instant, fixed, offset) : calendarInterval(instant, interval, offset);
}

/** A fixed-length interval: local-aligned bounds, cut where a shift moves the alignment. */
function fixedInterval(instant: number, length: number, offset: (at: number) => number): Span {
  const here = offset(instant);
  let start = instant - mod(instant + here, length);
  let end = start + length;
  const before = offset(start);
  if (before !== here && mod(here - before, length) !== 0) start = firstAt(start, instant, here, offset);
  const after = offset(end - 1);
  if (after !== here && mod(after - here, length) !== 0) end = firstAt(instant, end - 1, after, offset);
  return { start, end };
}

/** A day or week: from the first instant the local clock reaches its first day to the next's. */
function calendarInterval(instant: number, interval: IntervalName, offset: (at: number) => number): Span {
  const days = interval === 'day' ? 1 : 7;
  let first = calendarStart(Math.floor((instant + offset(instant)) / DAY), interval);
  let start = firstReaching(first * DAY, offset);
  let end = firstReaching((first + days) * DAY, offset);
  // The clock went back across midnight: the instant is in the day it reached before.
  while (end <= instant) {
    first += days;
    start = end;
    end = firstReaching((first + days) * DAY, offset);
  }
  return { start, end };
}

/** The first local day (days since the epoch) of the day or week holding local day `day`; weeks start on Monday. */
function calendarStart(day: number, interval: IntervalName): number {
  return interval === 'day' ? day : day - mod(day + 3, 7); // 1970-01-01 was a Thursday
}

/**
 * The first instant whose local clock reads `wall` (local time as epoch ms)
 * or later: local midnight, or the shift that skips it.
 */
function firstReaching(wall: number, offset: (at: number) => number): number {
  const guess = wall - offset(wall - offset(wall));
  // The local clock reads `wall` at `guess`, with no shift in the 3 hours
  // before: nothing earlier reached it (shifts are 2 hours at most).
  const at = wall - guess;
  if (offset(guess) === at && offset(guess - 3 * HOUR) === at) return guess;
  // Near a shift: walk the pieces of constant offset from 15 hours before
  // (offsets are -12 to +14 hours) to find the first that reaches `wall`.
  let from = wall - 15 * HOUR;
  const to = wall + 13 * HOUR;
  while (from < to) {
    const here = offset(from);
    let next = from + HOUR;
    if (offset(next) !== here) next = firstAt(from, next, offset(next), offset);
    if (from + here >= wall) return from; // a shift jumped over it
    if (next + here > wall) return wall - here;
    from = next;
  }
  return guess;
}

/** The first instant in (from, to] whose offset is `target` (offset(to) is), by bisection. */
function firstAt(from: number, to: number, target: number, offset: (at: number) => number): number {
  let lo = from;
  let hi = to;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offset(mid) === target) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The span a run starting at `cursor` covers: up to the end of the interval
 * containing it. Normally `cursor` is an interval start and this is that
 * interval. Where it is not (after the export's interval or timezone
 * changed) the span is the remainder of the interval, so consecutive spans
 * never overlap and never leave a gap; from there on they are the calendar's.
 */
export function spanFrom(cursor: number, interval: IntervalName, timezone: string): Span {
  return { start: cursor, end: intervalContaining(cursor, interval, timezone).end };
}

/**
 * The schedule's tiling from `cursor` on: spanFrom(cursor), then each next
 * interval, endlessly; the caller stops. The scheduler, backfills and their
 * planning all walk intervals with this.
 */
export function* spansFrom(cursor: number, interval: IntervalName, timezone: string): Generator<Span> {
  for (let span = spanFrom(cursor, interval, timezone); ; span = spanFrom(span.end, interval, timezone)) yield span;
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
  for (const span of spansFrom(intervalContaining(from, interval, timezone).start, interval, timezone)) {
    if (span.start >= to) return;
    yield span;
  }
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

/** `2024-01-01T00:00:00+00:00`: the form PostHog uses in keys and templates. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + '+00:00';
}

import { intervalContaining, spanFrom, type IntervalName } from './interval-calendar';

/**
 * A clock in epoch ms. The scheduler keeps time by Redis (Store.now); the
 * API, backfills and CLI use the same clock, so an export's first interval
 * and "has this interval ended" agree whatever the hosts' clocks say.
 */
export type Clock = () => number | Promise<number>;

/** Where a new export's schedule starts: the interval containing `start_at`, else the creation time. */
export function initialCursor(
  exp: { start_at: string | null; interval: IntervalName; timezone: string },
  now: number,
): number {
  const from = exp.start_at ? Date.parse(exp.start_at) : now;
  return intervalContaining(from, exp.interval, exp.timezone).start;
}

/** When the run at `cursor` is due (its end), or null when `end_at` stops the schedule. */
export function dueAt(
  cursor: number,
  exp: { end_at: string | null; interval: IntervalName; timezone: string },
): number | null {
  if (exp.end_at && cursor >= Date.parse(exp.end_at)) return null;
  return spanFrom(cursor, exp.interval, exp.timezone).end;
}

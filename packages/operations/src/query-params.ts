import { ValidationError, instant } from '@bx/core';
import type { z } from 'zod';

/** One bad query parameter: its name and why. */
export interface QueryIssue {
  field: string;
  message: string;
}

/**
 * Plain decimal digits (contract: integers in a query). Number() also read
 * `1e3`, `0x10`, `0b1`, ` 5`, `5.0` and `+5` as numbers; leading zeros are
 * still digits (`05` is 5). At most 16 digits: every such value fits a double.
 */
const DECIMAL_DIGITS = /^\d{1,16}$/;

/** The integer `value` of query parameter `field` in `[min, max]`, `fallback` when absent; else an issue in `issues`. */
export function queryInteger(
  value: string | undefined,
  field: string,
  range: { min: number; max: number; fallback: number },
  issues: QueryIssue[],
): number {
  if (value === undefined) return range.fallback;
  const n = DECIMAL_DIGITS.test(value) ? Number(value) : NaN;
  if (n >= range.min && n <= range.max) return n;
  issues.push({ field, message: `must be an integer from ${range.min} to ${range.max} (decimal digits only)` });
  return range.fallback;
}

/**
 * The instant (epoch ms) of query parameter `field`, read as every instant of
 * the API is (ISO 8601: Date.parse also read `Jan 2 2024`); undefined when
 * absent or bad, an issue in `issues` then. `schema` bounds it (default:
 * `instant`'s 1970 to 2100; a filter takes any year, `filterInstant`).
 */
export function queryInstant(
  value: string | undefined,
  field: string,
  issues: QueryIssue[],
  opts: { message?: string; schema?: z.ZodType<string, string> } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const parsed = (opts.schema ?? instant).safeParse(value);
  if (parsed.success) return Date.parse(parsed.data);
  issues.push({ field, message: opts.message ?? parsed.error.issues[0]!.message });
  return undefined;
}

/** The 400 of a query with `issues`, naming each parameter. */
export function invalidQuery(issues: QueryIssue[]): ValidationError {
  return new ValidationError(`Invalid query: ${issues.map((d) => `${d.field}: ${d.message}`).join('; ')}`, issues);
}

import { isoSeconds } from '@bx/core';

/** Variables an S3 `prefix` template may use (contract: S3 destination). */
export const PREFIX_VARIABLES = [
  'year',
  'month',
  'day',
  'hour',
  'minute',
  'second',
  'data_interval_start',
  'data_interval_end',
  'table',
] as const;

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Names in `template` that are not variables, plus unbalanced braces; empty when valid. */
export function prefixTemplateErrors(template: string): string[] {
  const errors: string[] = [];
  for (const match of template.matchAll(PLACEHOLDER)) {
    const name = match[1]!;
    if (!(PREFIX_VARIABLES as readonly string[]).includes(name)) {
      errors.push(`unknown variable {${name}}; allowed: ${PREFIX_VARIABLES.map((v) => `{${v}}`).join(' ')}`);
    }
  }
  if (/[{}]/.test(template.replace(PLACEHOLDER, ''))) errors.push('unbalanced { or }');
  return errors;
}

/** Renders a validated template; date parts are those of `data_interval_end` in UTC. */
export function renderPrefix(template: string, span: { start: number; end: number }, table: string): string {
  const end = new Date(span.end);
  const pad = (n: number) => String(n).padStart(2, '0');
  const values: Record<string, string> = {
    year: String(end.getUTCFullYear()),
    month: pad(end.getUTCMonth() + 1),
    day: pad(end.getUTCDate()),
    hour: pad(end.getUTCHours()),
    minute: pad(end.getUTCMinutes()),
    second: pad(end.getUTCSeconds()),
    data_interval_start: isoSeconds(span.start),
    data_interval_end: isoSeconds(span.end),
    table,
  };
  return template.replace(PLACEHOLDER, (_, name: string) => values[name] ?? '');
}

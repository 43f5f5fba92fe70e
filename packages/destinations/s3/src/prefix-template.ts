import { hasLoneSurrogate, isoSeconds } from '@bx/core';

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

/**
 * What a prefix may not contain: a `.` or `..` segment (S3-compatible servers
 * and proxies that normalise paths turned `PUT /bucket/../other/key` into a
 * write to another bucket), a backslash (a path separator to some servers),
 * a control character, or a lone surrogate (JSON can carry `"\ud800"`, but
 * the SDK's encodeURIComponent throws on it: every run failed, retrying).
 */
export function prefixPathErrors(prefix: string): string[] {
  const errors: string[] = [];
  if (prefix.split('/').some((segment) => segment === '.' || segment === '..')) {
    errors.push("must not contain '.' or '..' segments");
  }
  if (prefix.includes('\\')) errors.push('must not contain a backslash');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(prefix)) errors.push('must not contain control characters');
  if (hasLoneSurrogate(prefix)) errors.push('must be valid Unicode (a lone surrogate cannot be part of a key)');
  return errors;
}

/**
 * Names in `template` that are not variables, unbalanced braces, unsafe
 * paths and empty segments inside it (`a//b`); empty when valid. Slashes at
 * either end are dropped from keys (keyPrefix, as PostHog's keys: `/x` is
 * `x/...`), but one inside is kept by real S3, refused by MinIO, and failed
 * every run on s3rver: refused here, naming the field, rather than
 * collapsed into keys other than the ones the prefix spells. An export
 * stored before keeps its keys.
 */
export function prefixTemplateErrors(template: string): string[] {
  const errors: string[] = prefixPathErrors(template);
  if (template.replace(/^\/+|\/+$/g, '').includes('//')) {
    errors.push("must not contain an empty segment ('//'): S3-compatible servers such as MinIO refuse such keys");
  }
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

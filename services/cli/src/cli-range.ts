import { instant, type ValidationError } from '@bx/core';

/** The API's body fields as the commands' options spell them. */
const FLAGS: Record<string, string> = {
  start_at: '--start',
  end_at: '--end',
  dry_run: '--dry-run',
  confirm: '--confirm',
  force: '--force',
};

/**
 * `--start` and `--end` read as the API reads `start_at` and `end_at` (ISO
 * 8601, an offset-less value as UTC, 1970 to 2100), checked before anything
 * connects: epoch ms, or a message naming the option.
 */
export function parseRange(start: string, end: string): { start: number; end: number } | { error: string } {
  const bounds: number[] = [];
  for (const [flag, value] of [
    ['--start', start],
    ['--end', end],
  ] as const) {
    const parsed = instant.safeParse(value);
    if (!parsed.success) return { error: `${flag}: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
    bounds.push(Date.parse(parsed.data));
  }
  const [s, e] = bounds as [number, number];
  if (e <= s) return { error: '--end must be after --start' };
  return { start: s, end: e };
}

/**
 * A refusal of the backfill service, its body fields named as the command's
 * options: `end_at: end_at is in the future` becomes `--end is in the future`.
 */
export function optionMessage(e: ValidationError): string {
  return e.message
    .replace(/^Invalid body: /, '')
    .replace(/"?\b(start_at|end_at|dry_run|confirm|force)\b"?(: true\b)?/g, (_, field: string) => FLAGS[field]!)
    .replace(/(--[a-z-]+): \1\b/g, '$1');
}

/** A whole number option within [min, max], or a message naming it. */
export function intOption(flag: string, value: string, min: number, max: number): number | { error: string } {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) return { error: `${flag}: '${value}' is not a whole number from ${min} to ${max}` };
  return n;
}

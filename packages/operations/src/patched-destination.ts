import { parseInput, type DestinationConfig } from '@bx/core';
import { destinationSchema } from '@bx/destinations';
import { z } from 'zod';

const wrapped = z.object({ destination: destinationSchema });

/**
 * The destination a PATCH makes: the stored config (same type) with the
 * request's fields over it, checked as a whole, a bad field named as in the
 * body (`destination.config.prefix`). A stored field the request does not
 * send, refused on its own by today's rules (a `max_file_size_mb` of
 * 100,000 that an older version took, before the 1..64,000 bounds), stays
 * as stored: rotating a secret must not fail on a field the user did not
 * send. A field the request sends is checked, and so is a stored one that
 * only the request's change makes wrong (`compression` after a new
 * `file_format`).
 */
export function patchedDestination(
  current: DestinationConfig,
  type: string,
  sent: Record<string, unknown>,
): DestinationConfig {
  const base: Record<string, unknown> = type === current.type ? current.config : {};
  const merged = wrapped.safeParse({ destination: { type, config: { ...base, ...sent } } });
  if (merged.success) return merged.data.destination as DestinationConfig;
  const storedIssues = new Set(configIssues(wrapped.safeParse({ destination: { type, config: base } })));
  const issuesOf = new Map<string, string[]>();
  for (const issue of configIssues(merged)) {
    const field = issue.split('\n')[0]!;
    issuesOf.set(field, [...(issuesOf.get(field) ?? []), issue]);
  }
  // Kept only when every issue it has now was already the stored value's own: one the change adds
  // (a stored `ca_cert` with a new `sslmode: disable`) is the request's to answer for.
  const kept = new Set(
    [...issuesOf]
      .filter(([field]) => !Object.hasOwn(sent, field) && Object.hasOwn(base, field))
      .filter(([, issues]) => issues.every((issue) => storedIssues.has(issue)))
      .map(([field]) => field),
  );
  const rest = Object.fromEntries(Object.entries({ ...base, ...sent }).filter(([field]) => !kept.has(field)));
  const parsed = wrapped.safeParse({ destination: { type, config: rest } });
  const stored = Object.fromEntries([...kept].map((field) => [field, base[field]]));
  if (parsed.success) {
    const next = parsed.data.destination as DestinationConfig;
    return { ...next, config: { ...next.config, ...stored } } as DestinationConfig;
  }
  // A kept field the schema requires (a stored `table_name` today's rules refuse) is missing from
  // `rest`: when nothing else is wrong, the stored config with the request's checked fields over it.
  if (kept.size > 0 && configIssues(parsed).every((issue) => kept.has(issue.split('\n')[0]!))) {
    return { type, config: { ...base, ...sent } } as DestinationConfig;
  }
  // Throws naming the fields still wrong (all of them when none is a stored one's own).
  return parseInput(wrapped, { destination: { type, config: rest } }).destination as DestinationConfig;
}

/** `field\nmessage` of each issue on one config field (`destination.config.<field>`). */
function configIssues(result: ReturnType<typeof wrapped.safeParse>): string[] {
  if (result.success) return [];
  return result.error.issues
    .filter((i) => i.path.length === 3 && i.path[0] === 'destination' && i.path[1] === 'config')
    .map((i) => `${String(i.path[2])}\n${i.message}`);
}

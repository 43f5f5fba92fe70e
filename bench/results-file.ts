import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const RESULTS = join(__dirname, 'results.json');

/** bench/results.json as it stands ({} when there is none yet). */
export function readResults(): Record<string, unknown> {
  return existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>) : {};
}

/**
 * Writes `figures` into bench/results.json. The keys of `keep` found there
 * stay unless `figures` has them (each bench writes its own: the main one,
 * `--scale`, the Redis footprint).
 */
export function saveResults(figures: Record<string, unknown>, keep: readonly string[] = []): void {
  const previous = readResults();
  const kept = Object.fromEntries(keep.filter((k) => k in previous).map((k) => [k, previous[k]]));
  writeFileSync(RESULTS, JSON.stringify({ ...kept, ...figures }, null, 2) + '\n');
}

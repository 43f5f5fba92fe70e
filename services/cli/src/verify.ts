import { IntervalChecksums } from '@bx/clickhouse/checksums';
import {
  ConfigError,
  ExportSecrets,
  UnreachableError,
  errorMessage,
  intervalsBetween,
  loadConfig,
  modelSchema,
  type BatchExport,
  type Config,
  type Span,
} from '@bx/core';
import { readBackDestination, readBackRefusal, secretFieldsOf } from '@bx/destinations';
import { modelPlugin } from '@bx/models';
import { Store } from '@bx/store';
import { compareIntervals, reportLines, summarize } from './verify-report';
import { npmTookOptions, parseOptions } from './parse-options';
import { parseRange } from './cli-range';

const USAGE = `usage: npm run verify -- --export-id <id> --start <ISO 8601> --end <ISO 8601> [--json]

Reads the export's destination back (S3 objects of every format and codec; a
Snowflake or Postgres table) and counts the source again, for every interval of
the export that starts in [start, end) and has ended. Prints one line per
interval: source records, destination records, whether the checksums (sum of
sipHash64 of the uuids; of the distinct_ids for persons) are equal, the version
of the destination's receipt; then a summary.
  --json  the same as one JSON document
More than 500 intervals are read 500 at a time, with a progress line on stderr
after each.
Persons exports to S3 only: in a table, persons records are upserted by key
across intervals, so no interval's records can be read back; the reconciler
checks its receipts against the source (docs/operations.md).
Exit codes: 0 every interval matches, 1 some do not, 2 bad arguments or a
persons export to a table, 3 could not verify (export unknown, Redis,
ClickHouse or the destination unreachable).
Environment: REDIS_URL (or REDIS_CLUSTER_NODES), QUEUE_PREFIX, CLICKHOUSE_*,
EVENTS_*, SECRETS_ENCRYPTION_KEYS and ALLOWED_PRIVATE_DESTINATIONS (as the
services: a destination on a private address is read back only if listed).`;

/** The options npm would keep for itself without `--`. */
const OPTION_NAMES = ['export-id', 'start', 'end', 'json'] as const;

/** Intervals one call verifies at most. */
const MAX_INTERVALS = 50_000;
/** Intervals read at a time (source, then destination); a progress line after each when there are more. */
const CHUNK_INTERVALS = 500;

export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: { write(s: string): unknown } = process.stdout,
  err: { write(s: string): unknown } = process.stderr,
  now = Date.now(),
): Promise<number> {
  const fail = (code: number, message: string) => {
    // One line each: ClickHouse's own error text ends with a newline.
    err.write(`verify: ${message.trimEnd()}\n`);
    return code;
  };
  let args;
  try {
    args = parseOptions(argv, {
      'export-id': { type: 'string' },
      start: { type: 'string' },
      end: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    });
  } catch (e) {
    return fail(2, `${errorMessage(e)}${npmTookOptions(env, 'verify', OPTION_NAMES)}\n${USAGE}`);
  }
  if (args.help) {
    out.write(USAGE + '\n');
    return 0;
  }
  const missing = (['export-id', 'start', 'end'] as const).filter((name) => !args[name]);
  if (missing.length) {
    const hint = npmTookOptions(env, 'verify', OPTION_NAMES);
    return fail(2, `missing ${missing.map((m) => `--${m}`).join(', ')}${hint}\n${USAGE}`);
  }
  const range = parseRange(args.start!, args.end!);
  if ('error' in range) return fail(2, range.error);
  const { start, end } = range;
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (e) {
    return fail(2, e instanceof ConfigError ? e.message : errorMessage(e));
  }

  // Reading the destination back logs in with the export's secrets, stored sealed.
  const secrets = new ExportSecrets(config.SECRETS_ENCRYPTION_KEYS ?? null, secretFieldsOf);
  const store = Store.connect(
    { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES },
    config.QUEUE_PREFIX,
    { secrets },
  );
  const checksums = IntervalChecksums.fromConfig(config, modelPlugin);
  try {
    await store.assertReachable();
    const exp = await store.exports.get(args['export-id']!);
    if (!exp) return fail(3, `export ${args['export-id']} not found`);
    const model = modelSchema(modelPlugin(exp.model), config);
    const refused = readBackRefusal(exp.destination, model);
    if (refused) return fail(2, `export ${exp.id} exports ${exp.model} to ${exp.destination.type}: ${refused}`);
    const spans = intervalsBetween(start, end, exp.interval, exp.timezone, MAX_INTERVALS + 1).filter(
      (span) => span.end <= now,
    );
    if (spans.length > MAX_INTERVALS)
      return fail(2, `more than ${MAX_INTERVALS} intervals in range; verify a shorter one`);
    const source: Awaited<ReturnType<typeof sourceOf>> = new Map();
    const destination: Awaited<ReturnType<typeof readBackDestination>> = new Map();
    const unreadable = (e: unknown) =>
      fail(3, `could not read the ${exp.destination.type} destination back: ${errorMessage(e)}`);
    try {
      secrets.requireOpen(exp);
    } catch (e) {
      return unreadable(e);
    }
    const began = Date.now();
    // A chunk of intervals at a time, saying how far it is on stderr (stdout stays the report).
    for (let i = 0; i < spans.length; i += CHUNK_INTERVALS) {
      const chunk = spans.slice(i, i + CHUNK_INTERVALS);
      for (const [at, counted] of await sourceOf(checksums, exp, chunk, config)) source.set(at, counted);
      try {
        const held = await readBackDestination(exp.destination, {
          exportId: exp.id,
          teamId: exp.team_id,
          spans: chunk,
          model,
          events: { include_events: exp.include_events, exclude_events: exp.exclude_events },
          // Held to ALLOWED_PRIVATE_DESTINATIONS as runs are: the host may resolve elsewhere by now.
          network: config.ALLOWED_PRIVATE_DESTINATIONS,
        });
        for (const [at, read] of held) destination.set(at, read);
      } catch (e) {
        return unreadable(e);
      }
      if (spans.length > CHUNK_INTERVALS) {
        const done = i + chunk.length;
        err.write(`verify: ${done}/${spans.length} intervals read, ${((Date.now() - began) / 1000).toFixed(0)} s\n`);
      }
    }
    const report = summarize(exp.id, exp.destination.type, compareIntervals(spans, source, destination));
    out.write(args.json ? JSON.stringify(report, null, 2) + '\n' : reportLines(report).join('\n') + '\n');
    return report.summary.mismatched === 0 ? 0 : 1;
  } catch (e) {
    return fail(3, e instanceof UnreachableError ? e.message : `failed: ${errorMessage(e)}`);
  } finally {
    await checksums.close();
    await store.close();
  }
}

/** The source's count and checksum per interval; ClickHouse away is one line naming CLICKHOUSE_URL. */
async function sourceOf(checksums: IntervalChecksums, exp: BatchExport, spans: Span[], config: Config) {
  if (spans.length === 0) return new Map();
  try {
    // Counted as the destination holds the keys: a persons distinct_id of invalid UTF-8 is read back with U+FFFD.
    return await checksums.ofExport(exp, spans, config, undefined, { keyAsText: true });
  } catch (e) {
    if ((e as { code?: string }).code !== 'ClickHouseUnavailable') throw e;
    const cause = errorMessage((e as { cause?: unknown }).cause ?? e);
    throw new UnreachableError('ClickHouse', 'CLICKHOUSE_URL', withoutCredentials(config.CLICKHOUSE_URL), cause);
  }
}

/** Scheme, host and port of a URL: its user, password and query (`?password=`) stay out of what is printed. */
function withoutCredentials(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).then((code) => process.exit(code));
}

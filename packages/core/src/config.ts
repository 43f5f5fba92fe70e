import { isIP } from 'node:net';
import { z } from 'zod';
import { ConfigError } from './errors';
import { NetworkPolicy } from './network-policy';
import { SecretBox } from './secret-box';

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier (letters, digits, underscore)');
/** A whole number in [min, max]; any other value gets one message saying which numbers it takes. */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => {
  const error = `must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}`;
  // Decimal digits only: Number() would also take `0x1F90`, `1e3`, `8080.0` or `+8080`.
  return z
    .string({ error })
    .regex(/^\d{1,16}$/, { error })
    .transform(Number)
    .pipe(z.number().int({ error }).min(min, { error }).max(max, { error }));
};
/**
 * The longest time a Node timer holds, in ms (2^31 - 1, about 24.8 days):
 * setTimeout with more fires after 1 ms (TimeoutOverflowWarning), so a
 * SHUTDOWN_GRACE_MS of 3000000000 cancelled running runs at once and a
 * SCHEDULER_TICK_MS as large ticked every millisecond.
 */
export const MAX_TIMER_MS = 2_147_483_647;
/**
 * A duration in ms that a timer will wait: a whole number from `min` to MAX_TIMER_MS
 * (also for the settings a plug-in reads itself, POSTGRES_LOCK_TIMEOUT_MS, with the same message).
 */
export const millisecondsSetting = (min: number) => int(min, MAX_TIMER_MS);
const ms = millisecondsSetting;
const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
  );

const schema = z.object({
  /** Redis for BullMQ and the store. Default `redis://127.0.0.1:6379`. */
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  /** `host:port,host:port,...` seeds of a Redis Cluster, used instead of REDIS_URL's host (its credentials still apply). Default none. */
  REDIS_CLUSTER_NODES: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((node) => node.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port pairs separated by commas')).min(1))
    .optional(),
  /**
   * ClickHouse HTTP interface (a path is kept, for a proxy). Default `http://127.0.0.1:8123`. Credentials
   * go in CLICKHOUSE_USER / CLICKHOUSE_PASSWORD and settings are the product's: a user, password or query
   * string in the URL is refused, since one client would use them and the worker's own queries would not.
   */
  CLICKHOUSE_URL: url(['http:', 'https:'])
    .refine((value) => {
      const parsed = URL.canParse(value) ? new URL(value) : null;
      return !parsed?.username && !parsed?.password;
    }, 'must not hold a user or password: set CLICKHOUSE_USER and CLICKHOUSE_PASSWORD')
    .refine((value) => {
      const parsed = URL.canParse(value) ? new URL(value) : null;
      return !parsed?.search && !parsed?.hash;
    }, 'must not have a query string or fragment')
    .default('http://127.0.0.1:8123'),
  /** ClickHouse user. Default `default`. */
  CLICKHOUSE_USER: z.string().default('default'),
  /** ClickHouse password. Default empty. */
  CLICKHOUSE_PASSWORD: z.string().default(''),
  /** Database of the source tables (events, persons). Default `default`. */
  CLICKHOUSE_DATABASE: identifier.default('default'),
  /** The events table. Default `events`. */
  EVENTS_TABLE: identifier.default('events'),
  /** Column that bounds a run (ingestion time). Default `inserted_at`. */
  EVENTS_INTERVAL_COLUMN: identifier.default('inserted_at'),
  /** The persons model's person table (PostHog's ReplacingMergeTree by `version`). Default `person`. */
  PERSONS_TABLE: identifier.default('person'),
  /** The persons model's distinct_id → person mapping table. Default `person_distinct_id2`. */
  PERSON_DISTINCT_IDS_TABLE: identifier.default('person_distinct_id2'),
  /** Longest wait for a query's answer to begin (connecting, then ClickHouse's first bytes), in ms. Default 30 minutes. */
  CLICKHOUSE_QUERY_TIMEOUT_MS: ms(1000).default(30 * 60_000),
  /** A query that sends no data for this long is cut and retried, in ms. Default 5 minutes. */
  CLICKHOUSE_IDLE_TIMEOUT_MS: ms(100).default(5 * 60_000),
  /**
   * Worker: runs in flight at once that differ only by team (same model, interval and filters) share
   * one ClickHouse query when their rows are few (docs/scaling.md). Default true.
   */
  CLICKHOUSE_SHARED_READS: z.stringbool({ error: 'must be true or false' }).default(true),
  /** Bearer token of the admin API; required by the API role. */
  ADMIN_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Port of the admin API. Default 8080. */
  PORT: int(0, 65535).default(8080),
  /** Address the admin API binds to. Default `0.0.0.0` (every IPv4 interface). */
  HOST: z.string().min(1).default('0.0.0.0'),
  /**
   * Which proxies to believe about the client (X-Forwarded-For, -Proto, -Host), as Express's
   * `trust proxy`: `false` (default: none), `true` (the nearest), a hop count, or a list of
   * `loopback`, `linklocal`, `uniquelocal`, addresses and CIDRs.
   */
  TRUST_PROXY: z.string().transform(trustProxy).default(false),
  /** Time a client has to send a whole request (headers and body), in ms. Default 30000. */
  HTTP_REQUEST_TIMEOUT_MS: ms(1000).default(30_000),
  /** Bull Board at /admin/queues shows queues but refuses retry, clean, pause and the like. Default false. */
  BULL_BOARD_READ_ONLY: z.stringbool({ error: 'must be true or false' }).default(false),
  /**
   * Prefix of every Redis key and BullMQ queue; lets deployments share a Redis.
   * Default `bx`, or `{bx}` with REDIS_CLUSTER_NODES: on a Cluster it needs a
   * hash tag (`{...}`) so that every key lives in one slot.
   */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}-]+$/, 'letters, digits, _, - and a {hash tag} only')
    .optional(),
  /** How often the scheduler looks for due intervals, in ms. Default 2000. */
  SCHEDULER_TICK_MS: ms(50).default(2000),
  /** Wait after an interval ends before exporting it (late inserts), in seconds. Default 60. */
  SCHEDULER_SETTLE_SECONDS: int(0).default(60),
  /** Runs one worker process executes at once. Default 2. */
  WORKER_CONCURRENCY: int(1, 256).default(2),
  /** Attempts per run before it is Failed (first try included). Default 15. */
  RUN_MAX_ATTEMPTS: int(1).default(15),
  /** First retry delay in ms; doubles per attempt, with jitter. Default 10000. */
  RUN_BACKOFF_MS: ms(0).default(10_000),
  /** On SIGTERM, how long to let running runs finish before handing them back, in ms. Default 30000. */
  SHUTDOWN_GRACE_MS: ms(0).default(30_000),
  /** A run's lock lasts this long without renewal; a killed worker's run is taken over after it, in ms. Default 30000. */
  WORKER_LOCK_DURATION_MS: ms(1000).default(30_000),
  /** How often workers look for runs whose worker died, in ms. Default 15000. */
  WORKER_STALLED_INTERVAL_MS: ms(500).default(15_000),
  /** Runs created ahead of the workers per export (catch-up); backfills start at most half as many. Default 1000. */
  SCHEDULER_RUN_WINDOW: int(10, 100_000).default(1000),
  /**
   * Finished run records (and their logs) older than this many days are
   * removed; their intervals stay known as exported. Fractions allowed, an
   * hour at least (0.25: 6 hours), for deployments whose run history would not
   * fit in Redis (docs/scaling.md). Default 90.
   */
  RUN_RETENTION_DAYS: z
    .string()
    // Decimal digits and a point only, as the other numbers: Number() would also take `0x10`, `1e3`, `+5`.
    .regex(/^\d{1,9}(\.\d{1,9})?$/, 'must be a number of days, at least 0.0417 (an hour)')
    .transform(Number)
    .pipe(z.number().min(1 / 24, 'must be a number of days, at least 0.0417 (an hour)'))
    .default(90),
  /** Completed intervals that ended less than this many hours ago are re-checked against the source; 0 turns reconciliation off. Default 72. */
  RECONCILE_WINDOW_HOURS: int(0, 24 * 366).default(72),
  /** How often the reconciler checks every export, in ms. Default 600000 (10 minutes). */
  RECONCILE_EVERY_MS: ms(1000).default(600_000),
  /** Most exports one deployment holds; creating more answers 409. Default 10000. */
  MAX_EXPORTS: int(1).default(10_000),
  /** Pause an export after this many consecutive failed runs; 0 never pauses. Default 10 (as PostHog). */
  AUTO_PAUSE_AFTER_FAILURES: int(0).default(10),
  /** Receives a JSON notice when an export is auto-paused (at most one per export per day). Default none. */
  ALERT_WEBHOOK_URL: url(['http:', 'https:']).optional(),
  /**
   * Comma-separated base64 keys of 32 bytes: the first encrypts destination secrets before they
   * are stored, every one decrypts (rotation). Required by the API, scheduler and worker unless
   * ALLOW_PLAINTEXT_SECRETS=true.
   */
  SECRETS_ENCRYPTION_KEYS: z.string().transform(parseWith(SecretBox.parse)).optional(),
  /** Store destination secrets in clear when SECRETS_ENCRYPTION_KEYS is unset (development only). Default false. */
  ALLOW_PLAINTEXT_SECRETS: z.stringbool({ error: 'must be true or false' }).default(false),
  /**
   * Hosts, addresses or CIDRs in loopback, private or link-local ranges that destinations may
   * reach (comma-separated). Default none: such addresses are refused. Public ones always pass.
   */
  ALLOWED_PRIVATE_DESTINATIONS: z
    .string()
    .transform(parseWith(NetworkPolicy.parse))
    .default(() => new NetworkPolicy()),
  /** `debug`, `info`, `warn` or `error`. Default `info`. */
  LOG_LEVEL: z
    .enum(['debug', 'info', 'warn', 'error'], { error: 'must be debug, info, warn or error' })
    .default('info'),
});

/** Every environment variable the configuration reads (the README's configuration table lists each). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

export type Config = Readonly<Omit<z.infer<typeof schema>, 'QUEUE_PREFIX'> & { QUEUE_PREFIX: string }>;

/** A zod transform from a parser that throws, its message becoming the issue. */
function parseWith<T>(parse: (value: string) => T) {
  return (value: string, ctx: z.RefinementCtx): T => {
    try {
      return parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  };
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** TRUST_PROXY as Express's `trust proxy` setting takes it. */
function trustProxy(value: string, ctx: z.RefinementCtx): boolean | number | string[] {
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(',').map((entry) => entry.trim());
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const validBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
    if (!PROXY_NAMES.has(entry) && (family === 0 || !validBits || extra !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: `'${entry}' is not true, false, a hop count, loopback, linklocal, uniquelocal, an IP address or a CIDR`,
      });
      return z.NEVER;
    }
  }
  return entries;
}
export type Role = 'api' | 'scheduler' | 'worker';

/** A bad environment variable and what it takes. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

/**
 * Parses the environment once. Throws ConfigError naming every bad variable
 * at once (`more`: those of settings read elsewhere, as a destination's);
 * empty strings count as unset so `FOO=` falls back to the default.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  roles: readonly Role[] = [],
  more: readonly ConfigProblem[] = [],
): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = schema.safeParse(input);
  const problems: ConfigProblem[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? 'environment'),
        message: issue.message,
      }));
  if (roles.includes('api') && !input.ADMIN_API_TOKEN) {
    problems.push({
      variable: 'ADMIN_API_TOKEN',
      message: 'is required by the API (requests need Authorization: Bearer <token>)',
    });
  }
  const cluster = Boolean(input.REDIS_CLUSTER_NODES);
  const prefix = input.QUEUE_PREFIX ?? (cluster ? '{bx}' : 'bx');
  if (cluster && !/\{[^{}]+\}/.test(prefix)) {
    problems.push({
      variable: 'QUEUE_PREFIX',
      message: `needs a hash tag on a Redis Cluster (e.g. '{${prefix}}'), so that every key lives in one slot`,
    });
  }
  const plaintext = schema.shape.ALLOW_PLAINTEXT_SECRETS.safeParse(input.ALLOW_PLAINTEXT_SECRETS).data === true;
  if (roles.length > 0 && !input.SECRETS_ENCRYPTION_KEYS && !plaintext) {
    problems.push({
      variable: 'SECRETS_ENCRYPTION_KEYS',
      message:
        `is required by the ${roles.join(', ')} (destination secrets are encrypted at rest; make a key with ` +
        '`openssl rand -base64 32`), unless ALLOW_PLAINTEXT_SECRETS=true (development only)',
    });
  }
  problems.push(...more);
  if (problems.length > 0 || !parsed.success) throw ConfigError.of(problems);
  return Object.freeze({ ...parsed.data, QUEUE_PREFIX: prefix });
}

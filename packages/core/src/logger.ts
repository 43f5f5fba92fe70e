import pino, { type DestinationStream } from 'pino';
import { LogStdout } from './log-stdout';

/** Structured logs: one JSON object per line (pino), never a secret. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /**
   * A logger whose lines carry `fields` too. With `sink`, its lines (and its
   * children's) are also written there, with every field: a run's own log.
   */
  child(fields: LogFields, sink?: LogDestination): Logger;
}

/** Where lines go: a function given each line (no newline), or a stream. */
export type LogDestination = ((line: string) => void) | DestinationStream;

export interface LoggerOptions {
  /** Default: stdout, written asynchronously (flushed at exit and by `flushLogs`). */
  destination?: LogDestination;
  /** Field names redacted besides SECRET_KEYS, e.g. every destination plug-in's secret fields. */
  secretFields?: readonly string[];
}

/**
 * Field names whose values are never written, at the top of a line or nested
 * up to REDACT_DEPTH objects down (`config.aws_secret_access_key`,
 * `destination.config.password`, `headers.authorization`).
 */
export const SECRET_KEYS = [
  'password',
  'passphrase',
  'private_key',
  'private_key_passphrase',
  'aws_secret_access_key',
  'secret',
  'client_secret',
  'token',
  'access_token',
  'refresh_token',
  'api_key',
  'authorization',
  'Authorization',
  'cookie',
  'ADMIN_API_TOKEN',
  'CLICKHOUSE_PASSWORD',
] as const;

/** How deep a secret is looked for: a key of the line's fields is at depth 0, one of an object in them at 1, … */
const REDACT_DEPTH = 4;
const CENSOR = '[redacted]';

// One stdout stream per process, asynchronous and batched (LogStdout).
let stdout: LogStdout | null = null;

/** Writes out log lines still buffered (before an explicit process.exit, say). */
export function flushLogs(): void {
  try {
    stdout?.flushSync();
  } catch {
    // Nothing was pending, or stdout is gone: nothing left to do.
  }
}

export function createLogger(
  base: LogFields = {},
  level: LogLevel = 'info',
  options: LoggerOptions | LogDestination = {},
): Logger {
  const opts: LoggerOptions =
    typeof options === 'function' || 'write' in options ? { destination: options as LogDestination } : options;
  const secrets: ReadonlySet<string> = new Set([...SECRET_KEYS, ...(opts.secretFields ?? [])]);
  // Secrets are censored while the fields are made plain (one walk, copied
  // only where something changes), not by pino's redaction paths: 5 wildcard
  // depths per key cost 170 µs of CPU per tiny run's two lines, this 10 µs
  // (docs/scaling.md). A child's fields are made plain by `wrap` (pino's
  // children skip the bindings formatter).
  const clean = (fields: LogFields) => plain(fields, 0, secrets) as LogFields;
  const sinks: Sinks = { tees: null, writing: null, roots: new Map(), clean };
  const make = (stream: DestinationStream, withBase = true, atLevel: LogLevel = level, tee = false) =>
    pino(
      {
        level: atLevel,
        base: withBase ? clean(base) : null,
        messageKey: 'msg',
        // Errors are already `{name, message}` (plain): pino's own would add the stack.
        serializers: { err: (err: unknown) => err },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: {
          level: (label) => ({ level: label }),
          log: clean,
          bindings: clean,
        },
        // The line, once made and redacted, also goes to the run logs of the child writing it.
        ...(tee ? { hooks: { streamWrite: (line: string) => (sinks.tees?.forEach((t) => t(line)), line) } } : {}),
      },
      stream,
    );
  // A run's log (a child's sink) gets the very line the logger writes
  // (`tees`): one line made and redacted, not two. A line below the
  // logger's level that the run log still takes (info when stdout is at
  // warn) goes through one pino per level whose stream hands it to the sink
  // of the child writing it (`writing`: pino writes a line synchronously).
  // A pino per run compiled the redaction paths per run: 0.96 ms of CPU per
  // tiny run (two lines); shared, 0.3 ms; teed, once per line (docs/scaling.md).
  sinks.root = (atLevel) => {
    let root = sinks.roots.get(atLevel);
    if (!root) {
      root = make(
        streamOf((line) => sinks.writing?.(line)),
        false,
        atLevel,
      );
      sinks.roots.set(atLevel, root);
    }
    return root;
  };
  return wrap({ logger: make(streamOf(opts.destination), true, level, true), tees: [] }, [], sinks);
}

function streamOf(destination: LogDestination | undefined): DestinationStream {
  if (destination === undefined) return (stdout ??= new LogStdout());
  if (typeof destination !== 'function') return destination;
  return { write: (line: string) => destination(line.endsWith('\n') ? line.slice(0, -1) : line) };
}

/** The logger's own pino (its destination), and the run logs its lines also go to. */
interface Main {
  logger: pino.Logger;
  /** Each gets the line as written (with its newline). */
  tees: ReadonlyArray<(line: string) => void>;
}

/** A run log's pino for the lines the main logger does not write (made on first use), and the run log. */
interface Below {
  logger: () => pino.Logger;
  sink: (line: string) => void;
}

/** What the loggers of one createLogger share: the run logs of the line being written. */
interface Sinks {
  tees: ReadonlyArray<(line: string) => void> | null;
  writing: ((line: string) => void) | null;
  roots: Map<LogLevel, pino.Logger>;
  root?: (level: LogLevel) => pino.Logger;
  /** Fields as written: errors made plain, secrets censored. */
  clean: (fields: LogFields) => LogFields;
}

function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

/** A Logger writing each line through `main` (and its run logs), or else through the run logs' own pinos. */
function wrap(main: Main, below: readonly Below[], sinks: Sinks): Logger {
  const log = (level: LogLevel) => (msg: string, fields?: LogFields) => {
    if (main.logger.isLevelEnabled(level)) {
      sinks.tees = main.tees.length > 0 ? main.tees : null;
      try {
        main.logger[level](fields ?? {}, msg);
      } finally {
        sinks.tees = null;
      }
      return;
    }
    for (const { logger, sink } of below) {
      sinks.writing = sink;
      try {
        logger()[level](fields ?? {}, msg);
      } finally {
        sinks.writing = null;
      }
    }
  };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (given, sink) => {
      const fields = sinks.clean(given);
      const logger = main.logger.child(fields);
      const children = below.map((b) => ({ logger: lazy(() => b.logger().child(fields)), sink: b.sink }));
      if (!sink) return wrap({ logger, tees: main.tees }, children, sinks);
      const stream = streamOf(sink);
      const write = (line: string) => stream.write(line);
      // A sink is a record for people (a run's log): it gets info lines even when stdout is quieter.
      const level = main.logger.level === 'debug' ? 'debug' : 'info';
      // bindings(): the base and every ancestor's fields, already redacted.
      children.push({ logger: lazy(() => sinks.root!(level).child(logger.bindings())), sink: write });
      return wrap({ logger, tees: [...main.tees, write] }, children, sinks);
    },
  };
}

/**
 * The fields as written: errors anywhere in them become `{name, message}`
 * (no stack, no `cause`: an SDK's error can hold the request and its
 * credentials), and the value of a key in `secrets` is censored, at any
 * depth up to REDACT_DEPTH (an array's items one level below it). The
 * caller's objects are never changed: what differs is copied.
 */
function plain(value: unknown, depth: number, secrets: ReadonlySet<string>): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (depth > REDACT_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let items: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const next = plain(value[i], depth + 1, secrets);
      if (next !== value[i]) (items ??= [...(value as unknown[])])[i] = next;
    }
    return items ?? value;
  }
  let copy: Record<string, unknown> | null = null;
  for (const key of Object.keys(value)) {
    const field = (value as Record<string, unknown>)[key];
    const next = secrets.has(key) && field !== undefined ? CENSOR : plain(field, depth + 1, secrets);
    if (next !== field) (copy ??= { ...(value as Record<string, unknown>) })[key] = next;
  }
  return copy ?? value;
}

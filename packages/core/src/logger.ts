import pino, { type DestinationStream } from 'pino';

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

/** How deep a secret is looked for: pino's redaction compiles one path per key and depth. */
const REDACT_DEPTH = 4;
const CENSOR = '[redacted]';

/** Redaction paths of `keys`: `k`, `*.k`, `*.*.k`, … */
export function redactionPaths(keys: readonly string[]): string[] {
  const paths: string[] = [];
  for (const key of new Set(keys)) {
    const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
    for (let depth = 0; depth <= REDACT_DEPTH; depth++) {
      paths.push('*.'.repeat(depth) + name);
    }
  }
  return paths;
}

// One asynchronous stdout stream per process: a log line never waits for the
// pipe (the export loop runs on the same thread). pino flushes it at exit.
let stdout: ReturnType<typeof pino.destination> | null = null;

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
  const make = (stream: DestinationStream, withBase = true, atLevel: LogLevel = level) =>
    pino(
      {
        level: atLevel,
        base: withBase ? (plain(base, 0) as LogFields) : null,
        messageKey: 'msg',
        // Errors are already `{name, message}` (plain): pino's own would add the stack.
        serializers: { err: (err: unknown) => err },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: {
          level: (label) => ({ level: label }),
          log: (fields) => plain(fields, 0) as LogFields,
          bindings: (fields) => plain(fields, 0) as LogFields,
        },
        redact: { paths: redactionPaths([...SECRET_KEYS, ...(opts.secretFields ?? [])]), censor: CENSOR },
      },
      stream,
    );
  // Run logs (a child's sink) go through one pino per level whose stream
  // hands each line to the sink of the child writing it: pino writes a line
  // synchronously, so the sink is set for the duration of that call. A pino
  // per run compiled the redaction paths per run: 0.96 ms of CPU per tiny
  // run (two lines); shared, 0.3 ms (docs/scaling.md).
  const sinks: Sinks = { writing: null, roots: new Map() };
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
  return wrap([{ logger: make(streamOf(opts.destination)) }], sinks);
}

function streamOf(destination: LogDestination | undefined): DestinationStream {
  if (destination === undefined) return (stdout ??= pino.destination({ dest: 1, sync: false }));
  if (typeof destination !== 'function') return destination;
  return { write: (line: string) => destination(line.endsWith('\n') ? line.slice(0, -1) : line) };
}

/** A pino logger, and the sink its lines go to when it writes a run's log. */
interface Entry {
  logger: pino.Logger;
  sink?: (line: string) => void;
}

/** The shared pino loggers of run logs, and the sink of the line being written. */
interface Sinks {
  writing: ((line: string) => void) | null;
  roots: Map<LogLevel, pino.Logger>;
  root?: (level: LogLevel) => pino.Logger;
}

/** A Logger writing each line through every one of `entries` (the first writes to the logger's destination). */
function wrap(entries: Entry[], sinks: Sinks): Logger {
  const log = (level: LogLevel) => (msg: string, fields?: LogFields) => {
    for (const { logger, sink } of entries) {
      if (!sink) {
        logger[level](fields ?? {}, msg);
        continue;
      }
      sinks.writing = sink;
      try {
        logger[level](fields ?? {}, msg);
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
    child: (fields, sink) => {
      const children = entries.map((e) => ({ logger: e.logger.child(fields), sink: e.sink }));
      // bindings(): the base and every ancestor's fields, already redacted. A sink is a
      // record for people (a run's log): it gets info lines even when stdout is quieter.
      if (sink) {
        const level = entries[0]!.logger.level === 'debug' ? 'debug' : 'info';
        const stream = streamOf(sink);
        children.push({
          logger: sinks.root!(level).child({ ...entries[0]!.logger.bindings(), ...fields }),
          sink: (line) => stream.write(line),
        });
      }
      return wrap(children, sinks);
    },
  };
}

/**
 * Errors anywhere in the fields become `{name, message}`: no stack, no
 * `cause` (an SDK's error can hold the request and its credentials).
 */
function plain(value: unknown, depth: number): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (depth > REDACT_DEPTH || value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  let copy: Record<string, unknown> | null = null;
  for (const [key, field] of Object.entries(value)) {
    const next = plain(field, depth + 1);
    if (next !== field) (copy ??= { ...(value as Record<string, unknown>) })[key] = next;
  }
  return copy ?? value;
}

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
  return wrap([make(streamOf(opts.destination))], make);
}

function streamOf(destination: LogDestination | undefined): DestinationStream {
  if (destination === undefined) return (stdout ??= pino.destination({ dest: 1, sync: false }));
  if (typeof destination !== 'function') return destination;
  return { write: (line: string) => destination(line.endsWith('\n') ? line.slice(0, -1) : line) };
}

/** A Logger writing each line through every one of `loggers` (the first writes to the logger's destination). */
function wrap(
  loggers: pino.Logger[],
  make: (stream: DestinationStream, withBase?: boolean, atLevel?: LogLevel) => pino.Logger,
): Logger {
  const log = (level: LogLevel) => (msg: string, fields?: LogFields) => {
    for (const p of loggers) p[level](fields ?? {}, msg);
  };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields, sink) => {
      const children = loggers.map((p) => p.child(fields));
      // bindings(): the base and every ancestor's fields, already redacted. A sink is a
      // record for people (a run's log): it gets info lines even when stdout is quieter.
      const sinkLevel = loggers[0]!.level === 'debug' ? 'debug' : 'info';
      if (sink) children.push(make(streamOf(sink), false, sinkLevel).child({ ...loggers[0]!.bindings(), ...fields }));
      return wrap(children, make);
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

/**
 * Errors that say whether trying again can help. Every destination and the
 * ClickHouse reader map their failures onto these; the queue layer turns a
 * non-retryable one into BullMQ's UnrecoverableError and lets backoff handle
 * the rest (PostHog's `isRetriable`, n8n's `OperationalError`).
 */
export class BatchExportError extends Error {
  readonly retryable: boolean;
  /** A short machine-readable reason, e.g. `NoSuchBucket`, `AuthenticationFailed`. */
  readonly code: string;

  constructor(message: string, opts: { retryable: boolean; code?: string; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.retryable = opts.retryable;
    this.code = opts.code ?? (opts.retryable ? 'Retryable' : 'Permanent');
  }
}

/** A failure that may pass: network, throttling, 5xx, timeouts. */
export class RetryableError extends BatchExportError {
  constructor(message: string, opts: { code?: string; cause?: unknown } = {}) {
    super(message, { ...opts, retryable: true });
  }
}

/** A failure no retry can fix: bad credentials, missing bucket or table, invalid config. */
export class PermanentError extends BatchExportError {
  constructor(message: string, opts: { code?: string; cause?: unknown } = {}) {
    super(message, { ...opts, retryable: false });
  }
}

/** Unknown errors are retried: a bug shows up as a run that keeps failing, not as lost data. */
export function isRetryable(err: unknown): boolean {
  return err instanceof BatchExportError ? err.retryable : true;
}

/** Message for a run record or a log line; never the stack. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** Invalid process configuration: names each bad environment variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
    /** Every bad variable, this one first. */
    readonly problems: ReadonlyArray<{ variable: string; message: string }> = [{ variable, message }],
  ) {
    super(`Invalid configuration: ${problems.map((p) => `${p.variable}: ${p.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }

  /** One error for several bad variables. */
  static of(problems: ReadonlyArray<{ variable: string; message: string }>): ConfigError {
    const first = problems[0] ?? { variable: 'environment', message: 'is invalid' };
    return new ConfigError(first.variable, first.message, problems.length ? problems : [first]);
  }
}

/** Invalid user input (HTTP 400). `details` names each offending field; `code` says what kind (default `invalid_input`). */
export class ValidationError extends Error {
  constructor(
    message: string,
    readonly details: Array<{ field: string; message: string }> = [],
    /** The API's error code: `invalid_input`, or a more precise one (`secrets_required`). */
    readonly code: string = 'invalid_input',
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

/** A thing that does not exist (HTTP 404). */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** A request that conflicts with the current state (HTTP 409); `code` says what kind (default `conflict`). */
export class ConflictError extends Error {
  constructor(
    message: string,
    readonly code = 'conflict',
  ) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** A service the process needs does not answer: names the variable that points at it and the address. */
export class UnreachableError extends Error {
  constructor(
    readonly service: string,
    readonly variable: string,
    readonly address: string,
    cause: string,
  ) {
    super(`${service} is not reachable at ${address} (${variable}): ${cause}`);
    this.name = 'UnreachableError';
  }
}

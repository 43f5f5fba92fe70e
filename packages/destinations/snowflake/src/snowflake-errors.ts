import {
  BatchExportError,
  PermanentError,
  RetryableError,
  DESTINATION_NOT_ALLOWED,
  quoteRemote,
  remoteCode,
} from '@bx/core';

/** Where an error happened: a refused login means something else than a failed statement. */
export type SnowflakePhase = 'login' | 'statement';

// Server codes whose meaning does not depend on the SQLSTATE class.
const PERMANENT_CODES: Record<string, string> = {
  '002003': 'ObjectNotFound', // object does not exist or not authorized (table, stage)
  '002043': 'ObjectNotFound', // database, schema or warehouse does not exist or not authorized
  '000606': 'NoActiveWarehouse', // the role cannot use the warehouse, or there is none
  '003001': 'InsufficientPrivileges',
  '090105': 'NoCurrentDatabase',
  '000904': 'InvalidColumn', // a column the load needs is missing or named differently
};
const RETRYABLE_CODES: Record<string, string> = {
  '000608': 'WarehouseSuspended', // suspended mid-statement; resumes, or the resource monitor lets go
  '000603': 'InternalError', // "SQL execution internal error": Snowflake's own incident
  '000604': 'StatementCancelled',
  '000625': 'LockTimeout', // another statement held the table lock too long
};
// A refused login is permanent, except when a session merely expired.
const RETRYABLE_LOGIN_CODES = new Set(['390111', '390112', '390114']);
// Warehouses that auto-resume answer with these while they start.
const WAREHOUSE_STARTING = /warehouse\b.*\b(is (being )?resum|is starting|cannot be resumed right now)/i;

// SQLSTATE classes no retry can fix.
const PERMANENT_SQLSTATE_CLASSES: Record<string, string> = {
  '42': 'SqlCompilationError', // syntax or access rule violation (42501: insufficient privileges)
  '22': 'IncompatibleData', // a value does not fit the column's type
  '0A': 'FeatureNotSupported',
  '28': 'AuthorizationFailed',
  '02': 'ObjectNotFound',
};

// SDK client codes (numbers); 404xxx and 405506/7 are invalid connection options.
const NETWORK_FAILURE = 401001;
const RESPONSE_FAILURE = 401002;
const PERMANENT_NETWORK_CAUSES = new Set(['ENOTFOUND', 'ERR_INVALID_URL', 'ERR_TLS_CERT_ALTNAME_INVALID']);

interface SdkErrorShape {
  name?: string;
  message?: string;
  code?: string | number;
  sqlState?: string;
  cause?: { code?: string; message?: string };
  response?: { statusCode?: number };
}

/**
 * Maps a snowflake-sdk error onto retryable/permanent, keeping Snowflake's own
 * message, quoted (remote-text.ts) (PostHog's non-retryable Snowflake list: authentication, missing
 * objects, privileges, compilation errors). `action` names the step.
 */
export function classifySnowflakeError(err: unknown, action: string, phase: SnowflakePhase): BatchExportError {
  if (err instanceof BatchExportError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  // The network policy refused the address when the SDK connected (SDK error → axios error → ours).
  for (let cause = (e as { cause?: unknown }).cause, depth = 0; cause && depth < 4; depth++) {
    if (cause instanceof BatchExportError && cause.code === DESTINATION_NOT_ALLOWED) return cause;
    cause = (cause as { cause?: unknown }).cause;
  }
  const code = e.code === undefined ? undefined : String(e.code);
  // The code and message are the server's (an access_url may be a token holder's own) or the
  // SDK's, which may hold the server's words: the message is quoted, an odd code left out.
  const shownCode = code === undefined ? undefined : remoteCode(code, '');
  const message = `Snowflake ${action} failed: ${shownCode ? `${shownCode}: ` : ''}${quoteRemote(e.message ?? String(err))}`;
  const permanent = (reason: string) => new PermanentError(message, { code: reason, cause: err });
  const retryable = (reason: string) => new RetryableError(message, { code: reason, cause: err });

  if (WAREHOUSE_STARTING.test(e.message ?? '')) return retryable('WarehouseResuming');
  if (typeof e.code === 'number') return classifyClientError(e, e.code, permanent, retryable);
  if (code === undefined) return retryable('Unknown');
  if (phase === 'login' && !e.sqlState) {
    return RETRYABLE_LOGIN_CODES.has(code) ? retryable('SessionExpired') : permanent('AuthenticationFailed');
  }
  if (RETRYABLE_CODES[code]) return retryable(RETRYABLE_CODES[code]);
  if (PERMANENT_CODES[code]) return permanent(PERMANENT_CODES[code]);
  if (/^390\d{3}$/.test(code)) {
    return RETRYABLE_LOGIN_CODES.has(code) ? retryable('SessionExpired') : permanent('AuthenticationFailed');
  }
  const sqlClass = e.sqlState?.slice(0, 2);
  if (sqlClass && PERMANENT_SQLSTATE_CLASSES[sqlClass]) return permanent(PERMANENT_SQLSTATE_CLASSES[sqlClass]);
  return retryable('StatementFailed');
}

function classifyClientError(
  e: SdkErrorShape,
  code: number,
  permanent: (reason: string) => BatchExportError,
  retryable: (reason: string) => BatchExportError,
): BatchExportError {
  if (code === NETWORK_FAILURE) {
    return e.cause?.code && PERMANENT_NETWORK_CAUSES.has(e.cause.code)
      ? permanent('HostNotFound')
      : retryable('NetworkError');
  }
  if (code === RESPONSE_FAILURE) {
    // The SDK retries 5xx, 408 and 429 itself; what reaches us is either those
    // retries exhausted or a status no retry changes (403/404: wrong account or URL).
    const status = e.response?.statusCode;
    if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return permanent(`Http${status}`);
    }
    return retryable(status ? `Http${status}` : 'RequestFailed');
  }
  if ((code >= 404000 && code < 405000) || code === 405506 || code === 405507) {
    return permanent('InvalidConnectionOptions');
  }
  return retryable('ClientError');
}

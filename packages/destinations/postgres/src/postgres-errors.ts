import { constants } from 'node:os';
import { BatchExportError, PermanentError, RetryableError, cutWords, quoteRemote } from '@bx/core';
import { UTF8_HINT } from './database-encoding';

/** SQLSTATEs no retry can fix, with the reason the run records. */
const PERMANENT_SQLSTATES: Readonly<Record<string, string>> = {
  '28P01': 'AuthenticationFailed', // invalid_password
  '28000': 'AuthenticationFailed', // invalid_authorization_specification: no such role, no pg_hba.conf entry
  '3D000': 'DatabaseNotFound', // invalid_catalog_name
  '3F000': 'SchemaNotFound', // invalid_schema_name
  '42501': 'InsufficientPrivilege',
  '42P01': 'TableNotFound', // undefined_table: dropped between the check and the load
  '42703': 'IncompatibleTable', // undefined_column
  '42804': 'IncompatibleTable', // datatype_mismatch
  '25006': 'ReadOnlyServer', // read_only_sql_transaction: a standby, or default_transaction_read_only
};

/** SQLSTATEs a later attempt may not meet, by the same reasoning. */
const RETRYABLE_SQLSTATES: Readonly<Record<string, string>> = {
  '57P01': 'AdminShutdown', // the server is shutting down (fast shutdown, restart)
  '57P02': 'CrashShutdown',
  '57P03': 'CannotConnectNow', // starting up, or in recovery
  '57014': 'QueryCanceled', // statement_timeout, or pg_cancel_backend
  '40001': 'SerializationFailure',
  '40P01': 'DeadlockDetected',
  '55P03': 'LockTimeout', // lock_not_available: another session held the table or the rows past lock_timeout
  '55006': 'ObjectInUse',
  '53300': 'TooManyConnections',
};

/** SQLSTATE classes, after the codes above. */
const PERMANENT_CLASSES: Readonly<Record<string, string>> = {
  '22': 'InvalidData', // data_exception: a value the column refuses
  '23': 'ConstraintViolation', // a NOT NULL, CHECK or unique constraint of the user's table
  '28': 'AuthenticationFailed',
  '42': 'InvalidStatement', // syntax error or access rule violation
  '54': 'ProgramLimitExceeded', // a value or statement past a server limit (54001 stack depth): the same every time
  '0A': 'FeatureNotSupported',
};
const RETRYABLE_CLASSES: Readonly<Record<string, string>> = {
  '08': 'ConnectionException',
  '40': 'TransactionRollback',
  '53': 'InsufficientResources', // disk full, out of memory, too many connections
  '57': 'OperatorIntervention',
  '58': 'SystemError',
  XX: 'InternalError',
};

/** The server's words when the database's encoding cannot hold a character of the events (22P05, 0A000). */
const NOT_UTF8 = /in encoding "UTF8" has no equivalent in encoding|conversion between UTF8 and /;

/**
 * A unique index or constraint of the user's on the table (on `uuid`, say):
 * the same rows fail every retry, so the run says what it cannot change.
 */
const UNIQUE_HINT =
  'ClickHouse holds rows with the same key (it keeps every insert: an event sent twice is two rows with one uuid), ' +
  'and a unique index or constraint of the table refuses the second; drop it, or make it a plain index';
const UNIQUE_OTHER_HINT =
  'a unique index or constraint of the table refuses a row the export writes; drop it, or make it a plain index';

/** Network failures that a later attempt may not meet. */
const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

/** TLS certificate checks that fail the same way every time. */
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

interface PgErrorShape {
  message?: string;
  code?: string;
  severity?: string;
  detail?: string;
  hint?: string;
  where?: string;
}

/**
 * Maps an error of `pg` (a server ErrorResponse with its SQLSTATE in `code`, a
 * Node network or TLS error, or the driver's own) onto retryable/permanent,
 * keeping PostgreSQL's message. `action` names the step.
 */
export function classifyPostgresError(err: unknown, action: string): BatchExportError {
  if (err instanceof BatchExportError) return err;
  const e = (err ?? {}) as PgErrorShape;
  const code = typeof e.code === 'string' ? e.code : undefined;
  // Five capitals are a SQLSTATE unless Node's system error (`EPIPE`, `EBADF`: no SQLSTATE class begins with E).
  const sqlState = code && /^[0-9A-Z]{5}$/.test(code) && !(code in constants.errno) ? code : undefined;
  const text = e.message || String(err);
  // `where` names the COPY line (the row) and column of a refused value.
  const extra = cutWords(
    [e.detail, e.hint, e.where && `(${e.where.split('\n').join('; ')})`].filter(Boolean).join(' '),
    1000,
  );
  // A server's ErrorResponse (it has a severity) is the server's words: quoted, as a
  // token holder's own server chose them. The driver's and Node's are ours.
  const words = `${text}${extra ? ` ${extra}` : ''}`;
  const said = e.severity === undefined ? words : quoteRemote(words);
  const message = `PostgreSQL ${action} failed: ${sqlState ? `${sqlState}: ` : ''}${said}`;
  const permanent = (reason: string, hint = '') => new PermanentError(message + hint, { code: reason, cause: err });
  const retryable = (reason: string) => new RetryableError(message, { code: reason, cause: err });

  if (sqlState) {
    // A database in LATIN1, SQL_ASCII...: the server's words name the encoding, not the way out.
    if (NOT_UTF8.test(text)) return permanent('DatabaseEncoding', `: ${UTF8_HINT}`);
    if (sqlState === '23505') {
      // Only a key of uuid says why (duplicate events); another column's unique index refuses for its own reason.
      const hint = /^Key \(uuid\)=/.test(e.detail ?? '') ? UNIQUE_HINT : UNIQUE_OTHER_HINT;
      return permanent('ConstraintViolation', `: ${hint}`);
    }
    if (PERMANENT_SQLSTATES[sqlState]) return permanent(PERMANENT_SQLSTATES[sqlState]);
    if (RETRYABLE_SQLSTATES[sqlState]) return retryable(RETRYABLE_SQLSTATES[sqlState]);
    const sqlClass = sqlState.slice(0, 2);
    if (PERMANENT_CLASSES[sqlClass]) return permanent(PERMANENT_CLASSES[sqlClass]);
    if (RETRYABLE_CLASSES[sqlClass]) return retryable(RETRYABLE_CLASSES[sqlClass]);
    return retryable('ServerError');
  }
  if (code && CERTIFICATE_CODES.has(code)) {
    return permanent(
      'CertificateRejected',
      ': the server certificate is not trusted for this host; give its CA in ca_cert, or use sslmode require',
    );
  }
  // The server's message past MAX_BACKEND_MESSAGE_BYTES: the same server answers the same way again.
  if (code === 'MessageTooLarge') return permanent('MessageTooLarge');
  if (code === 'ENOTFOUND') return permanent('HostNotFound');
  if (code && RETRYABLE_NETWORK_CODES.has(code)) return retryable('NetworkError');
  if (/does not support SSL/i.test(text)) {
    return permanent('TlsNotSupported', ': the server does not accept TLS; use sslmode disable if that is intended');
  }
  if (/SASL|SCRAM|password/i.test(text)) return permanent('AuthenticationFailed');
  // "Connection terminated unexpectedly", "timeout expired", and the unknown: a later attempt may do better.
  return retryable(/timeout/i.test(text) ? 'Timeout' : 'ConnectionError');
}

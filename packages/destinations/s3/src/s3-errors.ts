import { PermanentError, RetryableError, quoteRemote, remoteCode, type BatchExportError } from '@bx/core';

// What no retry can fix (PostHog's non-retryable S3 list, plus KMS and auth).
const PERMANENT = new Set([
  'NoSuchBucket',
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidBucketName',
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'InvalidArgument',
  'InvalidRequest',
  'KMS.NotFoundException',
  'KMS.DisabledException',
  'InvalidEncryptionAlgorithmError',
  'AllAccessDisabled',
  'AccountProblem',
]);
// The run's own upload vanished: most often its CompleteMultipartUpload was
// applied but the answer lost (a reset connection), so the SDK's retry finds
// it gone. A new attempt writes the interval again (same keys, one copy).
const RETRYABLE = new Set(['NoSuchUpload']);
const NETWORK_PERMANENT = new Set([
  'ENOTFOUND',
  'EAI_AGAIN_PERMANENT',
  'ERR_INVALID_URL',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Maps an AWS SDK error onto retryable/permanent, keeping S3's own message (quoted: remote-text.ts). */
export function classifyS3Error(err: unknown, action: string): BatchExportError {
  if (err instanceof PermanentError || err instanceof RetryableError) return err;
  // A deadline or cancel of RequestControl: its reason says which.
  const cause = (err as { name?: string; cause?: unknown }).cause;
  if ((err as { name?: string }).name === 'AbortError' && cause instanceof RetryableError) return cause;
  const e = err as {
    name?: string;
    Code?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e.$metadata?.httpStatusCode;
  // With a status, the code and message are the endpoint's (a token holder's own, maybe):
  // the code becomes ours only if it is a plain word, the message is quoted.
  const code = remoteCode(e.Code ?? e.name ?? e.code);
  const words = e.message ?? String(err);
  const message = `S3 ${action} failed: ${code}: ${status === undefined ? words : quoteRemote(words)}`;
  if (e.name === 'AbortError') return new RetryableError(`S3 ${action} aborted`, { code: 'Aborted', cause: err });
  if (RETRYABLE.has(code)) return new RetryableError(message, { code, cause: err });
  if (PERMANENT.has(code) || (e.code && NETWORK_PERMANENT.has(e.code))) {
    return new PermanentError(message, { code, cause: err });
  }
  if (
    status !== undefined &&
    status >= 400 &&
    status < 500 &&
    status !== 408 &&
    status !== 429 &&
    code !== 'RequestTimeout'
  ) {
    return new PermanentError(message, { code, cause: err });
  }
  return new RetryableError(message, { code, cause: err });
}

import { PermanentError, RetryableError, type BatchExport, type ExportSecrets } from '@bx/core';

/**
 * Attempts of a run that may fail because this worker lacks the export's key
 * before the run fails for good: with the default backoff (10 s, doubling) the
 * first five span about 2.5 minutes, long enough for a rolling restart.
 */
export const SECRET_KEY_ATTEMPTS = 5;

/**
 * Throws when this worker cannot open the export's secrets: retryable for the
 * first SECRET_KEY_ATTEMPTS attempts. The key is this process's
 * configuration, not the run's: mid-rotation (the services restarted one by
 * one, an export sealed with the new key by an API restarted first) or on a
 * machine added with the old environment, another worker has the key, so a
 * later attempt runs the interval. Past those attempts (no worker has the key,
 * a value damaged, a worker started with ALLOW_PLAINTEXT_SECRETS and no key)
 * retrying cannot help: the run fails for good, counted towards auto-pause.
 */
export function requireExportKeys(secrets: ExportSecrets, exp: BatchExport, attempt: number): void {
  try {
    secrets.requireOpen(exp);
  } catch (err) {
    if (!(err instanceof PermanentError) || err.code !== 'SecretUnreadable') throw err;
    if (attempt >= SECRET_KEY_ATTEMPTS) throw err;
    throw new RetryableError(`${err.message}; retried, so that a worker with that key runs it`, {
      code: err.code,
      cause: err,
    });
  }
}

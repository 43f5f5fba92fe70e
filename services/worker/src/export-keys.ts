import { PermanentError, RetryableError, type BatchExport, type ExportSecrets } from '@bx/core';

/**
 * Throws when this worker cannot open the export's secrets: retryable. The
 * key is this process's configuration, not the run's: mid-rotation (the
 * services restarted one by one, an export sealed with the new key by an API
 * restarted first) or on a machine added with the old environment, another
 * worker has the key, so a later attempt runs the interval. Failing the run
 * for good would leave the interval unexported and count towards pausing
 * the export; a key no worker has still ends the run Failed after its last
 * attempt, with this message.
 */
export function requireExportKeys(secrets: ExportSecrets, exp: BatchExport): void {
  try {
    secrets.requireOpen(exp);
  } catch (err) {
    if (!(err instanceof PermanentError) || err.code !== 'SecretUnreadable') throw err;
    throw new RetryableError(`${err.message}; retried, so that a worker with that key runs it`, {
      code: err.code,
      cause: err,
    });
  }
}

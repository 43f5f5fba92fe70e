import {
  RetryableError,
  errorMessage,
  isRetryable,
  modelSchema,
  remoteCode,
  shownErrorMessage,
  type BatchExport,
  type DestinationConfig,
} from '@bx/core';
import type { DestinationCheckOptions } from '@bx/core';
import { secretValuesOf, visibleValuesOf } from '@bx/destinations';
import { modelPlugin } from '@bx/models';

/** What `POST /api/exports/:id/test` answers (and the console shows). */
export interface DestinationTestResult {
  status: 'ok' | 'error';
  message: string;
  code?: string | null;
  retryable?: boolean;
}

export type CheckDestination = (destination: DestinationConfig, opts: DestinationCheckOptions) => Promise<void>;

/** The destination test answers within this, in ms, whatever the destination does (contract: 30 s). */
export const TEST_DEADLINE_MS = 25_000;

/**
 * Runs `check` with a signal that aborts after `ms` (or when `signal` does),
 * and gives up waiting then even if the check ignores its signal.
 */
async function withDeadline(
  check: (signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
  ms: number,
  what: string,
): Promise<void> {
  const timeUp = new AbortController();
  const late = new Promise<never>((_, reject) =>
    timeUp.signal.addEventListener('abort', () => reject(timeUp.signal.reason)),
  );
  const timer = setTimeout(
    () =>
      timeUp.abort(new RetryableError(`${what} destination did not answer within ${ms / 1000} s`, { code: 'Timeout' })),
    ms,
  );
  const work = check(AbortSignal.any([signal, timeUp.signal]));
  try {
    await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
    work.catch(() => undefined);
    late.catch(() => undefined);
  }
}

/**
 * Reaches the destination with the export's credentials (a table destination
 * checks an existing table against the export's model), within
 * TEST_DEADLINE_MS whatever the destination does; the outcome is the
 * answer, not an error (contract: 200 `{status: "ok" | "error", message,
 * retryable}`). The API route and the console both call this.
 */
export async function testDestination(
  exp: BatchExport,
  check: CheckDestination,
  signal?: AbortSignal,
): Promise<DestinationTestResult> {
  try {
    await withDeadline(
      (deadline) => check(exp.destination, { signal: deadline, model: modelSchema(modelPlugin(exp.model)) }),
      signal ?? new AbortController().signal,
      TEST_DEADLINE_MS,
      exp.destination.type,
    );
    return { status: 'ok', message: `${exp.destination.type} destination reachable and writable` };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      status: 'error',
      // One line without the export's secrets, whatever the destination answered.
      message: shownErrorMessage(errorMessage(err), secretValuesOf(exp.destination), visibleValuesOf(exp.destination)),
      code: typeof code === 'string' ? remoteCode(code) : null,
      retryable: isRetryable(err),
    };
  }
}

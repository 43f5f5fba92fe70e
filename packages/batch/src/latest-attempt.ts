import { RetryableError } from '@bx/core';
import type { RunState } from './destination-writer';

/** How long the attempt's read may wait for the store (Redis) to answer again, in ms. */
export const STORE_WAIT_MS = 5000;

/**
 * Whether the attempt is still the run's latest (RunState.isLatest; without it, assumed so).
 * A store that does not answer (Redis restarting, failing over, a network blip) is asked again
 * for up to `waitMs`: a short outage at commit time must not throw away a whole load. If it
 * stays away, the attempt fails retryably with code `StoreUnavailable`.
 */
export async function isLatestAttempt(state: RunState, waitMs = STORE_WAIT_MS): Promise<boolean> {
  if (!state.isLatest) return true;
  const deadline = Date.now() + waitMs;
  for (let pause = 100; ; pause = Math.min(pause * 2, 1000)) {
    try {
      return await state.isLatest();
    } catch (err) {
      if (Date.now() + pause > deadline) {
        const why = err instanceof Error ? err.message : String(err);
        throw new RetryableError(
          `the store (Redis) did not answer for ${Math.round(waitMs / 1000)} s, so this attempt could not confirm it is still the run's latest: nothing was made visible, and it will be retried (${why})`,
          { code: 'StoreUnavailable', cause: err },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/**
 * Throws (retryable, code `Superseded`) once a later attempt of the run has started: a writer
 * calls it before what makes its rows visible (an object's completion, a COMMIT) and before
 * deleting, so that an attempt that lost its lock does not replace or remove the later one's.
 * A store that stays away (isLatestAttempt) throws `StoreUnavailable`.
 */
export async function requireLatestAttempt(state: RunState, waitMs = STORE_WAIT_MS): Promise<void> {
  if (!(await isLatestAttempt(state, waitMs))) throw supersededError();
}

/** What an attempt that a later one took over fails with (retryable, code `Superseded`); its outcome is not recorded. */
export function supersededError(): RetryableError {
  return new RetryableError('superseded: a later attempt of this run has started (or the run is gone)', {
    code: 'Superseded',
  });
}

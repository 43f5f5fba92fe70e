import { RetryableError } from '@bx/core';
import type { RunState } from './destination-writer';

/** Whether the attempt is still the run's latest (RunState.isLatest; without it, assumed so). */
export async function isLatestAttempt(state: RunState): Promise<boolean> {
  return state.isLatest ? state.isLatest() : true;
}

/**
 * Throws (retryable, code `Superseded`) once a later attempt of the run has started: a writer
 * calls it before what makes its rows visible (an object's completion, a COMMIT) and before
 * deleting, so that an attempt that lost its lock does not replace or remove the later one's.
 */
export async function requireLatestAttempt(state: RunState): Promise<void> {
  if (!(await isLatestAttempt(state))) {
    throw new RetryableError('superseded: a later attempt of this run has started (or the run is gone)', {
      code: 'Superseded',
    });
  }
}

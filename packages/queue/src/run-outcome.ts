/**
 * What processing one run job came to. Expected outcomes are values; only
 * the queue turns 'failed' into what its backend needs (BullMQ: a thrown
 * error, UnrecoverableError when `retry` is false).
 */
export type RunOutcome =
  | { status: 'completed'; records: number; bytes: number; files: string[] }
  /** Nothing to do: the run was cancelled, completed, superseded by a later attempt, or its export deleted. */
  | { status: 'skipped'; reason: string }
  /** Its export is paused: the run waits, as it is, until unpause queues it again. */
  | { status: 'held' }
  /** The attempt failed; `retry`: another attempt follows after a backoff, else the run failed for good. */
  | { status: 'failed'; error: string; retry: boolean };

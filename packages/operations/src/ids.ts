import { RUN_ID, UUID_ID } from '@bx/core';

/**
 * Whether an id in a path is one the API gave out. Anything else is answered
 * 404 before it reaches a Redis key (a key of another type answered 500).
 */
export function isOwnId(id: string): boolean {
  return UUID_ID.test(id);
}

export function isOwnRunId(id: string): boolean {
  return RUN_ID.test(id);
}

/** An export or backfill id as the API gives them out: a UUID. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A run id: its export's id and its interval start (runIdFor). */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-\d{8}T\d{6}Z$/;

/**
 * Whether an id in a path is one the API gave out. Anything else is answered
 * 404 before it reaches a Redis key (a key of another type answered 500).
 */
export function isOwnId(id: string): boolean {
  return UUID.test(id);
}

export function isOwnRunId(id: string): boolean {
  return RUN_ID.test(id);
}

/** ioredis errors that mean "no Redis to answer now": its connection is down, or Cluster has no node. */
const UNAVAILABLE_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
/** What ioredis rejects commands with once a connection is closed, or cannot take them offline. */
const CLOSED = /^(?:Connection is closed\.|Stream isn't writeable)/;
/** Replies of a Redis that is there but cannot serve now: loading, a replica, failing over, out of memory. */
const BUSY_REPLIES = /^(?:LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|OOM|BUSY|NOREPLICAS)\b/;

/**
 * Whether `err` says Redis cannot serve right now (unreachable, restarting,
 * read-only after a failover, full), rather than a bug or bad input: the API
 * answers such a request 503, to be tried again.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (UNAVAILABLE_NAMES.has(err.name)) return true;
  if (CLOSED.test(err.message)) return true;
  return err.name === 'ReplyError' && BUSY_REPLIES.test(err.message);
}

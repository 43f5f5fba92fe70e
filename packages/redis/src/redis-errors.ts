/** ioredis errors that mean "no Redis to answer now": its connection is down, or Cluster has no node. */
const UNAVAILABLE_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
/** What ioredis rejects commands with once a connection is closed, or cannot take them offline. */
const CLOSED = /^(?:Connection is closed\.|Stream isn't writeable)/;
/**
 * What ioredis's Cluster rejects a command with while the cluster moves or
 * loses a node: it gave up after 16 redirections (each a MOVED, ASK,
 * TRYAGAIN, CLUSTERDOWN or closed connection; nothing else is redirected),
 * or has no node, no slot map or no connection to send it on.
 */
const CLUSTER_IN_FLUX =
  /^(?:Too many Cluster redirections\b|None of startup nodes is available|Cluster isn't ready\b|Cluster is disconnected\.|Node is disconnected)/;
/**
 * Replies of a Redis that is there but cannot serve now: loading, a replica,
 * failing over, out of memory; or a Cluster slot moving (MOVED, ASK reach
 * the caller only inside a pipeline ioredis does not redirect).
 */
const BUSY_REPLIES = /^(?:LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|OOM|BUSY|NOREPLICAS|MOVED|ASK)\b/;

/**
 * Whether `err` says Redis cannot serve right now (unreachable, restarting,
 * read-only after a failover, a Cluster failing over or resharding, full),
 * rather than a bug or bad input: the API answers such a request 503, to be
 * tried again.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (UNAVAILABLE_NAMES.has(err.name)) return true;
  if (CLOSED.test(err.message) || CLUSTER_IN_FLUX.test(err.message)) return true;
  return err.name === 'ReplyError' && BUSY_REPLIES.test(err.message);
}

/**
 * `work` for callers that may come many at once: a call while one is running
 * gets that one's promise, and the next call after it settles runs `work`
 * again (nothing is kept). For the endpoints anyone may call without the
 * token (/metrics, /healthz), so that a crowd of requests costs Redis and
 * ClickHouse what one does.
 */
export function singleFlight<T>(work: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  return () =>
    (running ??= work().finally(() => {
      running = null;
    }));
}

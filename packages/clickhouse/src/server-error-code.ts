/**
 * The code of an error ClickHouse answered with (`60`: no such table), or
 * undefined when the server did not answer (refused, reset, timed out). The
 * client parses the code of modern servers' answers only: an old server's
 * (18.16) is read from `Code: N` in its text, else it looked like a server
 * that did not answer.
 */
export function serverErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && /^\d+$/.test(e.code)) return e.code;
  return typeof e?.message === 'string' ? /\bCode: (\d+)/.exec(e.message)?.[1] : undefined;
}

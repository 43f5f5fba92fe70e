import { BatchExportError, ConflictError, NotFoundError, ValidationError, errorMessage, type Logger } from '@bx/core';
import { isRedisUnavailable } from '@bx/store';
import type { NextFunction, Request, Response } from 'express';

/** Seconds a client is asked to wait (Retry-After) before trying again while Redis is unavailable. */
export const REDIS_RETRY_AFTER_SECONDS = 5;

/** Every error becomes `{error: {code, message, details}}`; 500 only for real bugs. */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) return next(err);
    const send = (status: number, code: string, message: string, details: unknown[] = []) =>
      res.status(status).json({ error: { code, message, details } });
    if (err instanceof ValidationError) return void send(400, err.code, err.message, err.details);
    if (err instanceof NotFoundError) return void send(404, 'not_found', err.message);
    // A path id that is not even percent-encoding: not an id the API gave out.
    if (err instanceof URIError) return void send(404, 'not_found', `no such id in ${req.path}`);
    if (err instanceof ConflictError) return void send(409, err.code, err.message);
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed')
      return void send(400, 'invalid_json', `request body is not valid JSON: ${e.message}`, [
        { field: 'body', message: 'invalid JSON' },
      ]);
    if (e.type === 'json.duplicate.key')
      return void send(400, 'invalid_input', errorMessage(err), (err as { details: unknown[] }).details);
    if (e.type === 'entity.too.large') return void send(413, 'too_large', 'request body is too large');
    if (e.type === 'charset.unsupported' || e.type === 'encoding.unsupported')
      return void send(415, 'unsupported_media_type', errorMessage(err));
    if (e.type === 'content-type.unsupported')
      return void send(415, 'unsupported_media_type', errorMessage(err), [
        { field: 'Content-Type', message: errorMessage(err) },
      ]);
    // What is left of the 4xx: reading the body (a compressed one that does not decompress).
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
      return void send(e.status, 'bad_request', errorMessage(err), [{ field: 'body', message: errorMessage(err) }]);
    if (err instanceof BatchExportError) return void send(err.retryable ? 503 : 502, err.code, err.message);
    // Redis down, restarting or failing over: nothing is wrong with the request, it can be sent again.
    if (isRedisUnavailable(err)) {
      logger.warn('request failed: Redis unavailable', { method: req.method, path: req.path, err: errorMessage(err) });
      return sendRedisUnavailable(res);
    }
    logger.error('request failed', { method: req.method, path: req.path, err: errorMessage(err) });
    send(500, 'internal', 'internal error');
  };
}

/** 503 `unavailable` with Retry-After: Redis is down, restarting or failing over; the request may be sent again. */
export function sendRedisUnavailable(res: Response): void {
  res
    .status(503)
    .set('Retry-After', String(REDIS_RETRY_AFTER_SECONDS))
    .json({
      error: { code: 'unavailable', message: 'the store (Redis) is not reachable now; try again shortly', details: [] },
    });
}

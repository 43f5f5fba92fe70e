import type { Request } from 'express';

/** Content types read as JSON bodies: `application/json` and the `+json` ones (`application/merge-patch+json`). */
export const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * The request's JSON body (undefined when it sent none). A body sent as
 * another type (curl -d sends `application/x-www-form-urlencoded`) is not
 * read by express.json, so it looked like no body: POST and PATCH answered
 * "body: expected object, received undefined", and an unpause with
 * `{"backfill": true}` unpaused without the backfill. It is a 415 naming
 * the header instead.
 */
export function jsonBody(req: Request): unknown {
  if (req.body !== undefined || !sentContent(req)) return req.body;
  const got = req.headers['content-type'] ?? 'none';
  const message = `request body must be JSON, sent with Content-Type: application/json (got ${got.slice(0, 100)})`;
  throw Object.assign(new Error(message), { status: 415, type: 'content-type.unsupported' });
}

/** Whether the request carries body bytes: a Content-Length above 0, or a chunked body. */
function sentContent(req: Request): boolean {
  const length = req.headers['content-length'];
  return length !== undefined ? Number(length) > 0 : req.headers['transfer-encoding'] !== undefined;
}

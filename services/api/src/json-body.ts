import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { duplicateKeyPath } from './duplicate-keys';

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

/**
 * express.json's `verify`: a body with a key given twice in one object is a
 * 400 naming it (duplicateKeyPath), before it is parsed. `buf` is the body
 * decompressed, in its declared charset (a UTF one: express.json refuses others).
 */
export function refuseDuplicateKeys(_req: IncomingMessage, _res: unknown, buf: Buffer, encoding: string): void {
  let text: string;
  try {
    text = new TextDecoder(encoding).decode(buf);
  } catch {
    return; // A charset TextDecoder does not know: the parser answers for it.
  }
  const path = duplicateKeyPath(text);
  if (path === null) return;
  const field = path.slice(0, 200);
  throw Object.assign(new Error(`Invalid body: ${field}: given more than once`), {
    status: 400,
    type: 'json.duplicate.key',
    details: [{ field, message: 'given more than once' }],
  });
}

import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { duplicateKeyPath } from './duplicate-keys';

/** Content types read as JSON bodies: `application/json` and the `+json` ones (`application/merge-patch+json`). */
export const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * Types a JSON body is often sent as by mistake: none (Python's
 * `requests.post(data=...)`), `text/plain` (fetch with a string body) and a
 * form (`curl -d` without `-H`). Such a body is read as text (express.text)
 * and taken as JSON when a route reads one (jsonBody): the API takes bearer
 * tokens only, so a cross-site form cannot use this.
 */
export function sentAsText(req: IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return type === '' || type === 'text/plain' || type === 'application/x-www-form-urlencoded';
}

/**
 * The request's JSON body (undefined when it sent none). A body sent with a
 * type of sentAsText is parsed here (the same checks as express.json: a key
 * given twice, invalid JSON), so a route that reads no body ignores it. Any
 * other type (multipart, XML) is a 415 naming the header: before, such a body
 * looked like none, POST and PATCH answered "body: expected object, received
 * undefined", and an unpause with `{"backfill": true}` unpaused without the
 * backfill.
 */
export function jsonBody(req: Request): unknown {
  if (typeof req.body === 'string') return textAsJson(req.body, req.headers['content-type'] ?? 'none');
  if (req.body !== undefined || !sentContent(req)) return req.body;
  const got = req.headers['content-type'] ?? 'none';
  const message = `request body must be JSON, sent with Content-Type: application/json (got ${got.slice(0, 100)})`;
  throw Object.assign(new Error(message), { status: 415, type: 'content-type.unsupported' });
}

/** A body read as text, as JSON: undefined when blank, else parsed or a 400 naming what it was sent as. */
function textAsJson(text: string, sentAs: string): unknown {
  if (text.trim() === '') return undefined;
  const path = duplicateKeyPath(text);
  if (path !== null) throw duplicateKeyError(path);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw Object.assign(new Error(`${why} (sent as ${sentAs.slice(0, 100)}; send JSON as application/json)`), {
      status: 400,
      type: 'entity.parse.failed',
    });
  }
}

/** Whether the request carries body bytes: a Content-Length above 0, or a chunked body. */
function sentContent(req: Request): boolean {
  const length = req.headers['content-length'];
  return length !== undefined ? Number(length) > 0 : req.headers['transfer-encoding'] !== undefined;
}

/**
 * express.json's `verify`: a body with a key given twice in one object is a
 * 400 naming it (duplicateKeyPath), before it is parsed. `buf` is the body
 * decompressed; a charset other than UTF-8 is a 415.
 */
export function refuseDuplicateKeys(_req: IncomingMessage, _res: unknown, buf: Buffer, encoding: string): void {
  // JSON is UTF-8 (RFC 8259): another UTF the parser decodes its own way (iconv), which this check
  // would not follow (utf-7, utf-32, utf-16 without BOM), and a key given twice got through.
  if (encoding !== 'utf-8' && encoding !== 'utf8')
    throw Object.assign(
      new Error(`unsupported charset "${encoding.toUpperCase().slice(0, 40)}": JSON is sent as UTF-8`),
      {
        status: 415,
        type: 'charset.unsupported',
      },
    );
  const path = duplicateKeyPath(buf.toString('utf8'));
  if (path !== null) throw duplicateKeyError(path);
}

/** A 400 naming the key given twice (the error handler's `json.duplicate.key`). */
function duplicateKeyError(path: string): Error {
  const field = path.slice(0, 200);
  return Object.assign(new Error(`Invalid body: ${field}: given more than once`), {
    status: 400,
    type: 'json.duplicate.key',
    details: [{ field, message: 'given more than once' }],
  });
}

import { S3ServiceException } from '@aws-sdk/client-s3';
import type { IncomingMessage } from 'node:http';

/** Most of an answer's body read (an error document is a few hundred bytes); the rest is discarded. */
const MAX_BODY = 64 * 1024;

/** What one PUT got back: status, headers (lower-case names), and the body's first MAX_BODY bytes. */
export interface PutAnswer {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
}

/**
 * Reads an answer's body: at once for the empty body of a stored object,
 * otherwise up to MAX_BODY bytes. Ends with the abort signal, as the request did.
 */
export function readBody(body: IncomingMessage, abortSignal?: AbortSignal): Promise<Buffer> {
  if (body.headers['content-length'] === '0') {
    body.resume();
    return Promise.resolve(Buffer.alloc(0));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onAbort = () => body.destroy(abortError(abortSignal!));
    abortSignal?.addEventListener('abort', onAbort, { once: true });
    const done = (err: Error | null) => {
      abortSignal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    body.on('data', (chunk: Buffer) => {
      if (size < MAX_BODY) chunks.push(chunk.subarray(0, MAX_BODY - size));
      size += chunk.length;
    });
    body.on('end', () => done(null));
    body.on('error', done);
    body.on('close', () => {
      if (!body.complete) done(Object.assign(new Error('S3 answer cut short'), { code: 'ECONNRESET' }));
    });
  });
}

/**
 * The error the SDK throws for the same answer, or null for a stored
 * object: an S3ServiceException named by the XML `<Code>` (`NotFound` for
 * a bare 404, `Unknown` without one), with S3's `<Message>`, the status and
 * the request ids in `$metadata`. As the SDK's S3 client, a 2xx whose body
 * ends an `<Error>` document is S3 failing after the fact: a 503.
 * `secrets` never appear in the message (an endpoint may echo anything).
 */
export function answerError(answer: PutAnswer, secrets: readonly string[]): S3ServiceException | null {
  let status = answer.status;
  const tail = answer.body.subarray(Math.max(0, answer.body.length - 16)).toString('utf8');
  if (status >= 200 && status < 300) {
    if (!tail.endsWith('</Error>')) return null;
    status = 503;
  }
  const text = answer.body.toString('utf8');
  const code = xmlField(text, 'Code');
  const message = xmlField(text, 'Message');
  const error = new S3ServiceException({
    name: code ?? (status === 404 ? 'NotFound' : 'Unknown'),
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: {
      httpStatusCode: status,
      requestId: answer.headers['x-amz-request-id'] ?? answer.headers['x-amzn-requestid'],
      extendedRequestId: answer.headers['x-amz-id-2'],
      cfId: answer.headers['x-amz-cf-id'],
    },
    message: redact(message ?? 'UnknownError', secrets),
  });
  if (code !== undefined) Object.assign(error, { Code: code });
  return error;
}

/** The Date header of an answer, in ms (clock skew correction), or null. */
export function serverTime(answer: { headers: Record<string, string | undefined> }): number | null {
  const date = answer.headers.date;
  const ms = date ? Date.parse(date) : NaN;
  return Number.isNaN(ms) ? null : ms;
}

/** The AbortError the SDK's request handler throws: the signal's reason as `cause`. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  const error = new Error(reason && !(reason instanceof Error) ? String(reason) : 'Request aborted');
  error.name = 'AbortError';
  if (reason instanceof Error) error.cause = reason;
  return error;
}

/** The first `<name>` element's text of an S3 error document, entities decoded. */
function xmlField(text: string, name: string): string | undefined {
  const found = new RegExp(`<${name}>([^<]*)</${name}>`).exec(text);
  return found ? decodeXml(found[1]!) : undefined;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (whole, entity: string) => {
    if (entity[0] !== '#') return ENTITIES[entity.toLowerCase()] ?? whole;
    const point =
      entity[1] === 'x' || entity[1] === 'X' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
    return point <= 0x10ffff ? String.fromCodePoint(point) : whole;
  });
}

function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  return out;
}

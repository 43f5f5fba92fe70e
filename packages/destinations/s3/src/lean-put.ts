import { PutObjectCommand, type S3Client, type S3ClientResolvedConfig } from '@aws-sdk/client-s3';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { extendedEncodeURIComponent, HttpRequest } from '@smithy/core/protocols';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { SignatureV4 } from '@smithy/signature-v4';
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { abortError, answerError, readBody, serverTime, type PutAnswer } from './lean-put-response';
import { sdkPut, type ObjectPut, type PutInput } from './object-put';

/** PutObject fields the lean path sends as headers; an input with any other goes through the SDK. */
const HEADERS: Partial<Record<keyof PutInput, string>> = {
  ContentType: 'content-type',
  ServerSideEncryption: 'x-amz-server-side-encryption',
  SSEKMSKeyId: 'x-amz-server-side-encryption-aws-kms-key-id',
};
const FIELDS = new Set(['Bucket', 'Key', 'Body', 'ContentLength', ...Object.keys(HEADERS)]);
/** A clock correction of this much or more makes a failed request worth retrying (the SDK's signer), in ms. */
const CLOCK_SKEW_MS = 240_000;
/** An answer later than this after its request says nothing of the clocks (the SDK's signer), in ms. */
const STALE_ANSWER_MS = 900_000;

/** Where a bucket's objects go, and how requests there are signed (from the SDK's endpoint rules). */
interface Route {
  protocol: string;
  hostname: string;
  port?: number;
  /** The `host` header: hostname, and the port when the URL names one. */
  host: string;
  /** The endpoint's path (`/bucket` path-style, empty virtual-hosted), no trailing slash. */
  basePath: string;
  signer: SignatureV4;
  /** The client's retry strategy (the standard one: maxAttempts, backoff, retry tokens). */
  retries: RetryStrategyV2;
  /** Whether requests are signed with the client's clock offset, which answers correct. */
  skewCorrection: boolean;
}

type Config = S3ClientResolvedConfig & { expectContinueHeader?: boolean | number };
type SdkError = Parameters<typeof isThrottlingError>[0];
/** The standard retry strategy's interface (the SDK's default): tokens acquired, refreshed, recorded. */
type RetryStrategyV2 = Extract<Awaited<ReturnType<Config['retryStrategy']>>, { acquireInitialRetryToken: unknown }>;

/**
 * PutObject without the SDK's per-request machinery, for objects sent in one
 * request (a run's small file, its receipt and manifest): a tiny run's two
 * PUTs were about half of the worker's CPU per run. Measured with
 * `npx tsx bench/s3-put-cpu.ts` (500 PUTs of 330 bytes in a row, rounds 2-4,
 * machine load 16-25): the SDK's PutObject 1.7-2.4 ms of CPU per PUT (its
 * middleware stack, endpoint rules, schema serialisation, signing), this
 * path 0.74-0.99 ms; a bare hand-signed http.request 0.56-0.73 ms, the rest
 * being the SDK's request handler and retry strategy, kept for what they do.
 * Worker CPU per tiny run in the scale benchmark: see docs/scaling.md.
 *
 * It keeps what the SDK client decides: the endpoint and signing region come
 * from the client's own endpoint rules (once per bucket); credentials, clock
 * offset and retry strategy (maxAttempts, backoff, retry tokens) are the
 * client's; the request goes through the client's request handler (its
 * keep-alive agents guarded by the network policy, its connect, idle and
 * request timeouts, its abort errors); the signature is @smithy/signature-v4's,
 * over the headers the SDK sends for these fields and the body's SHA-256
 * (which S3 checks). Errors are built as the SDK builds them, so
 * classifyS3Error treats both alike. An input or a bucket this path does not
 * cover (another field, an endpoint signed other than with SigV4, a client
 * retrying its own way) goes through the SDK.
 */
export class LeanPut {
  private readonly routes = new Map<string, Promise<Route | null>>();
  private readonly sdk: ObjectPut;

  constructor(private readonly client: S3Client) {
    this.sdk = sdkPut(client);
  }

  readonly put: ObjectPut = async (input, abortSignal) => {
    const route = covered(input) ? await this.route(input.Bucket) : null;
    if (!route) return this.sdk(input, abortSignal);
    const body = typeof input.Body === 'string' ? Buffer.from(input.Body) : input.Body;
    const headers: Record<string, string> = { host: route.host };
    for (const [field, header] of Object.entries(HEADERS)) {
      const value = input[field as keyof PutInput];
      if (value !== undefined) headers[header!] = String(value);
    }
    headers['content-length'] = String(body.length);
    const expect = this.config.expectContinueHeader;
    if (expect === true || (typeof expect === 'number' && body.length >= expect)) headers.expect = '100-continue';
    // Hashed here, natively: the signer finds it and does not hash the body again.
    headers['x-amz-content-sha256'] = createHash('sha256').update(body).digest('hex');
    const request = new HttpRequest({
      method: 'PUT',
      protocol: route.protocol,
      hostname: route.hostname,
      port: route.port,
      path: `${route.basePath}/${input.Key.split('/').map(extendedEncodeURIComponent).join('/')}`,
      query: { 'x-id': 'PutObject' },
      headers,
      body,
    });
    await this.withRetries(route, request, abortSignal);
  };

  private get config(): Config {
    return this.client.config as Config;
  }

  /** Sends `request` as the SDK's retry middleware would: the client's strategy decides. */
  private async withRetries(route: Route, request: HttpRequest, abortSignal?: AbortSignal): Promise<void> {
    const strategy = route.retries;
    let token = await strategy.acquireInitialRetryToken('');
    let attempts = 0;
    let totalRetryDelay = 0;
    for (;;) {
      try {
        await this.send(route, request, abortSignal);
        strategy.recordSuccess(token);
        return;
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        try {
          if (abortSignal?.aborted) throw error;
          token = await strategy.refreshRetryTokenForRetry(token, {
            error: error as SdkError,
            errorType: retryErrorType(error),
          });
        } catch {
          const e = error as { $metadata?: Record<string, unknown> };
          e.$metadata = { ...e.$metadata, attempts: attempts + 1, totalRetryDelay };
          throw error;
        }
        attempts = token.getRetryCount();
        const delay = token.getRetryDelay();
        totalRetryDelay += delay;
        if (delay > 0) await sleep(delay, abortSignal);
      }
    }
  }

  /** One attempt: signed now (a retry is signed again), sent, answered. */
  private async send(route: Route, request: HttpRequest, abortSignal?: AbortSignal): Promise<void> {
    const config = this.config;
    const before = config.systemClockOffset;
    const sentAt = Date.now();
    const signingDate = new Date(route.skewCorrection ? sentAt + before : sentAt);
    const signed = (await route.signer.sign(request, { signingDate })) as HttpRequest;
    const { response } = await config.requestHandler.handle(signed, { abortSignal });
    const answer = {
      status: response.statusCode,
      headers: response.headers as Record<string, string | undefined>,
      body: await readBody(response.body as IncomingMessage, abortSignal),
    };
    if (route.skewCorrection) config.systemClockOffset = updatedClockOffset(answer, before, sentAt);
    const credentials = await config.credentials();
    const error = answerError(answer, [credentials.secretAccessKey, credentials.sessionToken ?? '']);
    if (!error) return;
    const offset = config.systemClockOffset;
    // As the SDK's signer: a correction this large makes the error retryable (isTransientError).
    if (Math.abs(offset) >= CLOCK_SKEW_MS && offset !== before) {
      (error.$metadata as { clockSkewCorrected?: true }).clockSkewCorrected = true;
    }
    throw error;
  }

  private route(bucket: string): Promise<Route | null> {
    let found = this.routes.get(bucket);
    if (!found) {
      found = this.resolve(bucket);
      // A failed resolution is not kept: the next PUT resolves again (and the SDK reports it).
      found.catch(() => this.routes.delete(bucket));
      this.routes.set(bucket, found);
    }
    return found.catch(() => null);
  }

  /**
   * The route the SDK's endpoint rules give PutObject to `bucket`; null when
   * not plain SigV4, or when the client retries in a way of its own.
   */
  private async resolve(bucket: string): Promise<Route | null> {
    const config = this.config;
    const retries = await config.retryStrategy();
    if (!('acquireInitialRetryToken' in retries)) return null;
    const endpoint = await getEndpointFromInstructions({ Bucket: bucket }, PutObjectCommand, { ...config });
    const scheme = (endpoint.properties?.authSchemes as AuthScheme[] | undefined)?.[0];
    if (scheme?.name !== 'sigv4' || Object.keys(endpoint.headers ?? {}).length > 0) return null;
    const url = endpoint.url;
    const port = url.port ? Number(url.port) : undefined;
    return {
      protocol: url.protocol,
      hostname: url.hostname,
      port,
      host: port === undefined ? url.hostname : `${url.hostname}:${port}`,
      basePath: url.pathname.replace(/\/$/, ''),
      signer: new SignatureV4({
        credentials: config.credentials,
        region: scheme.signingRegion ?? config.region,
        service: scheme.signingName ?? 's3',
        sha256: config.sha256,
        uriEscapePath: !scheme.disableDoubleEncoding,
      }),
      retries,
      skewCorrection: (await config.disableClockSkewCorrection?.()) !== true,
    };
  }
}

interface AuthScheme {
  name: string;
  signingName?: string;
  signingRegion?: string;
  disableDoubleEncoding?: boolean;
}

const leanPuts = new WeakMap<S3Client, LeanPut>();

/** The lean PUT of `client` (one per client: its routes are resolved once). */
export function leanPutOf(client: S3Client): LeanPut {
  let lean = leanPuts.get(client);
  if (!lean) leanPuts.set(client, (lean = new LeanPut(client)));
  return lean;
}

/** Whether the lean path covers `input`: its bytes at hand, and only fields it sends. */
function covered(input: PutInput): boolean {
  if (typeof input.Body !== 'string' && !(input.Body instanceof Uint8Array)) return false;
  for (const field in input) {
    if (!FIELDS.has(field) && input[field as keyof PutInput] !== undefined) return false;
  }
  return input.ContentLength === undefined || input.ContentLength === byteLength(input.Body);
}

function byteLength(body: Uint8Array | string): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.length;
}

/**
 * The client's clock offset after `answer` (the SDK signer's rule): S3's
 * Date minus ours when the answer came, unless a cache answered (Age) or
 * the answer took longer than STALE_ANSWER_MS.
 */
function updatedClockOffset(answer: PutAnswer, offset: number, sentAt: number): number {
  const time = serverTime(answer);
  if (time === null || answer.headers.age !== undefined) return offset;
  const now = Date.now();
  return now - sentAt > STALE_ANSWER_MS ? offset : time - now;
}

/** The retry middleware's classification (@smithy/core/retry). */
function retryErrorType(error: Error): 'THROTTLING' | 'TRANSIENT' | 'SERVER_ERROR' | 'CLIENT_ERROR' {
  const e = error as SdkError;
  if (isThrottlingError(e)) return 'THROTTLING';
  if (isTransientError(e)) return 'TRANSIENT';
  if (isServerError(e)) return 'SERVER_ERROR';
  return 'CLIENT_ERROR';
}

function sleep(ms: number, abortSignal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (abortSignal?.aborted) return reject(abortError(abortSignal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(abortSignal!));
    };
    const timer = setTimeout(() => {
      abortSignal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    abortSignal?.addEventListener('abort', onAbort, { once: true });
  });
}

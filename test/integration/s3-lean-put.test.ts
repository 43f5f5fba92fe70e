import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { BatchExportError, NetworkPolicy } from '@bx/core';
import { S3Destination, type S3Config } from '@bx/destination-s3';
import { ReceiptTally, type RunContext } from '@bx/batch';
import { CaptureServer } from '../helpers/capture-server';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { HttpFaultProxy } from '../helpers/http-fault-proxy';
import { eventually } from '../helpers/processes';
import { MemoryRunState, runContext } from '../helpers/run-context';
import { createBucket, getObject, listKeys, s3WriterConfig, testS3Client } from '../helpers/s3';
import { signatureMatches } from '../helpers/sigv4-check';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const KEY_BASE = '2024-01-01T10:00:00+00:00-2024-01-01T11:00:00+00:00';
const S3_PORT = Number(new URL(testEnv.S3_ENDPOINT_URL).port);
/** The two ways an object of one request goes: the test bodies below run against both. */
const PATHS = [
  { name: 'SDK PutObject', leanPut: false },
  { name: 'lean PUT', leanPut: true },
] as const;
/** Headers of the SDK's own bookkeeping (and the signature, which covers them), not of the object. */
const SDK_ONLY = ['amz-sdk-invocation-id', 'amz-sdk-request', 'x-amz-user-agent', 'user-agent'];

const events = Array.from({ length: 40 }, (_, i) =>
  makeEvent({ inserted_at: chTime('2024-01-01T10:20:00Z'), event: i % 2 ? 'it\'s "q"\n' : '$pageview' }),
);

/** A first attempt (no clean-up requests): the run's first request is its data file's PUT. */
function firstAttempt(overrides: Partial<RunContext> = {}): RunContext {
  return {
    ...runContext(span, Object.assign(new MemoryRunState(), { fresh: true })),
    receipt: { version: 1, build: (files) => new ReceiptTally().receipt([...files], 1) },
    ...overrides,
  };
}

/** What a failed write tells the worker: the error's class, code, retryable flag and message. */
function outcome(err: unknown) {
  expect(err, 'the write failed').to.be.instanceOf(BatchExportError);
  const e = err as BatchExportError;
  return { class: e.constructor.name, code: e.code, retryable: e.retryable, message: e.message };
}

/** The PUT requests a proxy saw, headers without the per-request and SDK-only ones. */
function puts(proxy: HttpFaultProxy, bucket: string) {
  return proxy.seen
    .filter((r) => r.method === 'PUT' && r.url.startsWith(`/${bucket}/`))
    .map((r) => ({
      url: r.url.slice(bucket.length + 1),
      headers: objectHeaders(r.headers),
      sdk: SDK_ONLY.some((h) => h in r.headers),
    }));
}

function objectHeaders(headers: IncomingHttpHeaders): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (SDK_ONLY.includes(name) || ['authorization', 'x-amz-date', 'host'].includes(name)) continue;
    kept[name] = value;
  }
  const signed = /SignedHeaders=([^,]+)/.exec(String(headers.authorization))?.[1]?.split(';') ?? [];
  kept['signed headers'] = signed.filter((h) => !SDK_ONLY.includes(h));
  return kept;
}

/** An endpoint that answers every request with one canned answer, and counts them. */
class CannedEndpoint {
  requests = 0;
  private server: Server | null = null;
  private answer: { status: number; headers: OutgoingHttpHeaders; body: string } = {
    status: 200,
    headers: {},
    body: '',
  };

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.requests++;
      req.resume();
      req.on('end', () => res.writeHead(this.answer.status, this.answer.headers).end(this.answer.body));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  answers(status: number, body = '', headers: OutgoingHttpHeaders = {}): void {
    this.answer = { status, headers: { 'content-length': Buffer.byteLength(body), ...headers }, body };
    this.requests = 0;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const xmlError = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>R1</RequestId></Error>`;

describe('S3 objects of one request: the lean PUT and the SDK PutObject alike', function () {
  this.timeout(120_000);
  let client: S3Client;
  let proxy: HttpFaultProxy;
  const config = (bucket: string, overrides: Partial<S3Config> = {}): S3Config =>
    s3WriterConfig({ bucket_name: bucket, endpoint_url: proxy.url, ...S3_CREDENTIALS, ...overrides });

  before(() => {
    client = testS3Client();
  });
  beforeEach(async () => {
    proxy = await new HttpFaultProxy(S3_PORT).start();
  });
  afterEach(async () => proxy.stop());

  const variants: Array<[string, Partial<S3Config>]> = [
    ['JSON Lines', {}],
    ['JSON Lines gzip, AES256', { compression: 'gzip', encryption: 'AES256' }],
    [
      'Parquet zstd, aws:kms',
      {
        file_format: 'Parquet',
        compression: 'zstd',
        encryption: 'aws:kms',
        kms_key_id: 'arn:aws:kms:eu-west-1:1:key/abc',
      },
    ],
    ['JSON Lines split, with a manifest', { max_file_size_mb: 0.002, prefix: 'a b/{table}/(x)!*' }],
  ];
  for (const [name, overrides] of variants) {
    it(`writes byte-identical objects with the same headers (${name})`, async () => {
      const written = [];
      for (const path of PATHS) {
        const bucket = await createBucket(client);
        const result = await new S3Destination(config(bucket, overrides), undefined, { leanPut: path.leanPut }).write(
          rowBatches(asRows(events), 10),
          firstAttempt(),
        );
        const keys = await listKeys(client, bucket);
        const objects = [];
        for (const key of keys) {
          const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
          const bytes = await getObject(client, bucket, key);
          objects.push({ key, bytes, type: head.ContentType, length: head.ContentLength, etag: head.ETag });
        }
        // Signed as S3 checks it: by the secret, over what was sent (aws4 recomputes it), not by another.
        for (const req of proxy.seen.filter((r) => r.url.startsWith(`/${bucket}/`))) {
          expect(signatureMatches(req, S3_CREDENTIALS.aws_secret_access_key), `${path.name} ${req.url}`).to.equal(true);
          expect(signatureMatches(req, 'another secret')).to.equal(false);
        }
        written.push({ result, objects, puts: puts(proxy, bucket) });
      }
      const [sdk, lean] = written as [(typeof written)[0], (typeof written)[0]];
      expect(lean.result).to.deep.equal(sdk.result);
      expect(lean.objects).to.deep.equal(sdk.objects);
      expect(lean.objects.filter((o) => o.key.endsWith(`${KEY_BASE}_receipt.json`))).to.have.length(1);
      expect(lean.puts.map((p) => ({ ...p, sdk: false }))).to.deep.equal(sdk.puts.map((p) => ({ ...p, sdk: false })));
      // The lean path did send them: none of the SDK's own headers; every SDK request has them.
      expect(lean.puts.map((p) => p.sdk)).to.deep.equal(lean.puts.map(() => false));
      expect(sdk.puts.map((p) => p.sdk)).to.deep.equal(sdk.puts.map(() => true));
      // S3 checks the body against the signed SHA-256 of exactly its bytes.
      for (const [i, object] of lean.objects.entries()) {
        const put = lean.puts.find((p) => decodeURIComponent(p.url.split('?')[0]!) === `/${object.key}`)!;
        expect(put.headers['x-amz-content-sha256'], object.key).to.equal(
          createHash('sha256').update(object.bytes).digest('hex'),
        );
        expect(put.headers['signed headers']).to.include('x-amz-content-sha256');
        expect(sdk.objects[i]!.bytes.equals(object.bytes)).to.equal(true);
      }
      if (overrides.encryption) {
        for (const put of lean.puts) {
          expect(put.headers['x-amz-server-side-encryption']).to.equal(overrides.encryption);
          expect(put.headers['x-amz-server-side-encryption-aws-kms-key-id']).to.equal(
            overrides.kms_key_id ?? undefined,
          );
        }
      }
    });
  }

  /** Runs `write` on both paths; the failures' outcomes, SDK first, with the requests each took. */
  async function failures(write: (leanPut: boolean) => Promise<unknown>, requests: () => number) {
    const seen = [];
    for (const path of PATHS) {
      const before = requests();
      const err = await write(path.leanPut).then(
        () => null,
        (e: unknown) => e,
      );
      seen.push({ ...outcome(err), requests: requests() - before });
    }
    expect(seen[1], 'lean PUT against SDK PutObject').to.deep.equal(seen[0]);
    return seen[1]!;
  }

  it('S3 refusals: the same error class, code, retryable flag and message', async () => {
    const bucket = await createBucket(client);
    const write = (overrides: Partial<S3Config>) => (leanPut: boolean) =>
      new S3Destination(config(bucket, overrides), undefined, { leanPut }).write(
        rowBatches(asRows(events), 500),
        firstAttempt(),
      );
    const requests = () => proxy.counts.requests;
    expect(await failures(write({ bucket_name: 'no-such-bucket-here' }), requests)).to.deep.include({
      class: 'PermanentError',
      code: 'NoSuchBucket',
      retryable: false,
      requests: 1,
    });
    expect(await failures(write({ aws_access_key_id: 'WRONG' }), requests)).to.deep.include({
      class: 'PermanentError',
      code: 'InvalidAccessKeyId',
      requests: 1,
    });
    // Throttling and server errors are retried by the client's strategy (3 attempts), then retryable.
    for (const [status, code, retryable, attempts] of [
      [503, 'SlowDown', true, 3],
      [500, 'InternalError', true, 3],
      [400, 'RequestTimeout', true, 3],
      [403, 'AccessDenied', false, 1],
    ] as const) {
      void proxy.inject({ kind: 'status', status, code }, 60_000);
      const seen = await failures(write({}), () => proxy.counts.status);
      expect(seen, code).to.deep.include({ code, retryable, requests: attempts });
      proxy.clear();
    }
    // Connections cut at any stage: retried, then retryable.
    void proxy.inject({ kind: 'reset' }, 60_000);
    expect(await failures(write({}), () => proxy.counts.reset)).to.deep.include({
      class: 'RetryableError',
      code: 'TimeoutError',
      requests: 3,
    });
    proxy.clear();
    expect(await listKeys(client, bucket)).to.satisfy((keys: string[]) => keys.every((k) => k.startsWith(KEY_BASE)));
  });

  it("an endpoint's odd answers: the same errors as the SDK makes of them", async () => {
    const endpoint = await new CannedEndpoint().start();
    try {
      const write = (leanPut: boolean) =>
        new S3Destination(config('bucket-one', { endpoint_url: endpoint.url }), undefined, { leanPut }).write(
          rowBatches(asRows(events), 500),
          firstAttempt(),
        );
      const requests = () => endpoint.requests;
      const cases: Array<[number, string, Record<string, unknown>]> = [
        [
          400,
          xmlError('InvalidArgument', 'a &amp; b &lt;c&gt; &#x41;&#66;'),
          { code: 'InvalidArgument', retryable: false },
        ],
        [404, '', { code: 'NotFound', retryable: false }],
        [
          403,
          xmlError('SignatureDoesNotMatch', 'The request signature we calculated does not match'),
          { code: 'SignatureDoesNotMatch', retryable: false, requests: 1 },
        ],
        [403, xmlError('AccessDenied', 'Access Denied'), { code: 'AccessDenied', retryable: false, requests: 1 }],
        [403, '', { code: 'Unknown', retryable: false }],
        [429, '', { code: 'Unknown', retryable: true, requests: 3 }],
        [500, '<html><body>oops</body></html>', { code: 'Unknown', retryable: true, requests: 3 }],
        // S3 failing after it said 200: a 503 to the SDK's S3 client.
        [200, xmlError('InternalError', 'We encountered an internal error'), { code: 'InternalError', requests: 3 }],
        [
          301,
          xmlError('PermanentRedirect', 'Use the bucket’s endpoint'),
          { code: 'PermanentRedirect', retryable: false },
        ],
      ];
      for (const [status, body, expected] of cases) {
        endpoint.answers(status, body, { 'content-type': 'application/xml', 'x-amz-request-id': 'REQ' });
        expect(await failures(write, requests), `${status} ${body}`).to.deep.include(expected);
      }
      expect((await failures(write, requests)).message).to.contain('Use the bucket’s endpoint');
      endpoint.answers(400, xmlError('InvalidArgument', 'a &amp; b &lt;c&gt; &#x41;&#66;'));
      expect((await failures(write, requests)).message).to.contain('a & b <c> AB');
    } finally {
      await endpoint.stop();
    }
  });

  it('never puts the secret key in an error, whatever the endpoint answers', async () => {
    const endpoint = await new CannedEndpoint().start();
    try {
      const secret = 'sEcReT-lean-put-4711';
      endpoint.answers(403, xmlError('AccessDenied', `key ${secret} is not allowed`));
      const err = await new S3Destination(
        config('bucket-one', { endpoint_url: endpoint.url, aws_secret_access_key: secret }),
        undefined,
        { leanPut: true },
      )
        .write(rowBatches(asRows(events), 500), firstAttempt())
        .catch((e: unknown) => e);
      expect(outcome(err)).to.deep.include({ code: 'AccessDenied', retryable: false });
      expect(JSON.stringify({ message: (err as Error).message, cause: String((err as Error).cause) })).to.not.contain(
        secret,
      );
      expect((err as Error).message).to.contain('key [redacted] is not allowed');
    } finally {
      await endpoint.stop();
    }
  });

  for (const path of PATHS) {
    it(`a cancelled run's PUT stops, and only it, on the client runs share (${path.name})`, async () => {
      const bucket = await createBucket(client);
      const shared = config(bucket);
      const other = { start: span.end, end: span.end + 3_600_000 };
      // Every answer is held a while: both runs' PUTs are under way at once, and the cancelled one
      // still is when the test sees both (3 s of margin for a loaded machine's polling).
      void proxy.inject({ kind: 'delay', minMs: 3000, maxMs: 3000 }, 60_000);
      const cancel = new AbortController();
      const cancelled = new S3Destination(shared, undefined, { leanPut: path.leanPut })
        .write(rowBatches(asRows(events.slice(0, 3)), 500), firstAttempt({ signal: cancel.signal }))
        .catch((e: unknown) => e);
      const going = new S3Destination(shared, undefined, { leanPut: path.leanPut }).write(
        rowBatches(asRows(events.slice(3, 6)), 500),
        firstAttempt({ dataIntervalStart: other.start, dataIntervalEnd: other.end }),
      );
      await eventually(async () => (proxy.counts.delayed >= 2 ? true : undefined), 10_000, 'both PUTs under way');
      cancel.abort();
      expect(outcome(await cancelled)).to.deep.include({ class: 'RetryableError', code: 'Aborted' });
      expect((await going).records).to.equal(3);
      proxy.clear();
      const keys = await listKeys(client, bucket);
      expect(keys.filter((k) => k.startsWith(KEY_BASE))).to.deep.equal([]);
      expect(keys.filter((k) => k.endsWith('.jsonl'))).to.have.length(1);
      expect(puts(proxy, bucket).every((p) => p.sdk === !path.leanPut)).to.equal(true);
    });
  }

  describe('under a network policy', () => {
    let capture: CaptureServer;
    beforeEach(async () => {
      capture = await new CaptureServer().start();
    });
    afterEach(async () => capture.stop());

    /** A policy whose names resolve as `names` says (a hostile DNS answer), the rest not at all. */
    const policy = (allowed: string[], names: Record<string, string>) =>
      new NetworkPolicy(allowed, async (host) => (names[host] ? [{ address: names[host]!, family: 4 }] : []));

    const write = (endpoint: string, network: NetworkPolicy, leanPut: boolean) =>
      new S3Destination(config('bucket-one', { endpoint_url: endpoint }), undefined, { network, leanPut }).write(
        rowBatches(asRows(events), 500),
        firstAttempt(),
      );

    it('refuses a loopback endpoint, by address or by a name that resolves there, before connecting', async () => {
      const names = { 'evil.test': '127.0.0.1' };
      for (const endpoint of [capture.url, `http://evil.test:${capture.port}`]) {
        expect(
          await failures(
            (leanPut) => write(endpoint, policy([], names), leanPut),
            () => capture.connections,
          ),
          endpoint,
        ).to.deep.include({ class: 'PermanentError', code: 'DestinationNotAllowed', requests: 0 });
      }
    });

    it('does not follow a redirect from an allowed endpoint to one the policy refuses', async () => {
      const redirector = await new CannedEndpoint().start();
      try {
        const port = new URL(redirector.url).port;
        const names = { 'allowed.test': '127.0.0.1', 'metadata.test': '127.0.0.1' };
        for (const location of [capture.url, `http://metadata.test:${capture.port}/latest/meta-data/`]) {
          for (const status of [301, 307]) {
            redirector.answers(status, '', { location });
            const seen = await failures(
              (leanPut) => write(`http://allowed.test:${port}`, policy(['allowed.test'], names), leanPut),
              () => capture.connections,
            );
            expect(seen, `${status} to ${location}`).to.deep.include({ requests: 0 });
            expect(redirector.requests, 'one request on each path').to.equal(2);
          }
        }
        expect(capture.requests).to.deep.equal([]);
      } finally {
        await redirector.stop();
      }
    });
  });
});

import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  CreateBucketCommand,
  PutBucketCorsCommand,
  DeleteBucketCorsCommand,
} from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startBenchS3, type BenchS3Server } from '../../bench/s3-server';
import { S3_CREDENTIALS } from '../helpers/env';

describe('scripts/s3-server.js', function () {
  this.timeout(30_000);
  let server: BenchS3Server;
  let client: S3Client;

  before(async () => {
    // scripts/s3-server.js on a free port and a folder of its own.
    server = await startBenchS3();
    client = new S3Client({
      region: 'us-east-1',
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials: {
        accessKeyId: S3_CREDENTIALS.aws_access_key_id,
        secretAccessKey: S3_CREDENTIALS.aws_secret_access_key,
      },
    });
    await client.send(new CreateBucketCommand({ Bucket: 'bx-script' }));
  });

  after(async () => {
    client?.destroy();
    await server?.close();
  });

  // A worker killed or frozen mid-PUT closes its socket halfway through the body: S3 keeps the
  // object it had (a PUT is atomic), it never shows half of the new one.
  for (const [name, size] of [
    ['a small object', 300_000],
    ['an object over 1 MiB', 3 * 1024 * 1024],
  ] as const) {
    it(`a PUT of ${name} whose client goes away mid-body leaves the previous object whole`, async () => {
      const key = `t1/2026-12-06/cut-${size}.jsonl`;
      const before = Buffer.alloc(size, 'old line\n');
      await client.send(new PutObjectCommand({ Bucket: 'bx-script', Key: key, Body: before }));
      const url = new URL(`${server.endpoint}/bx-script/${key}`);
      const amzDate = new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
      await new Promise<void>((resolve) => {
        const req = http.request({
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'PUT',
          headers: {
            'content-length': size,
            'x-amz-date': amzDate,
            'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
            authorization:
              `AWS4-HMAC-SHA256 Credential=${S3_CREDENTIALS.aws_access_key_id}/${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request, ` +
              `SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${'0'.repeat(64)}`,
          },
        });
        req.on('error', () => resolve());
        req.on('close', () => resolve());
        // Half the body, then the socket goes.
        req.write(Buffer.alloc(Math.floor(size / 2), 'new line\n'), () => setImmediate(() => req.destroy()));
      });
      // The server has seen the socket close once a later request on a new connection is answered.
      await client.send(new HeadObjectCommand({ Bucket: 'bx-script', Key: key }));
      const got = await client.send(new GetObjectCommand({ Bucket: 'bx-script', Key: key }));
      const text = Buffer.from(await got.Body!.transformToByteArray());
      expect(text.length).to.equal(size);
      expect(text.equals(before)).to.equal(true);
    });
  }

  // Small objects take the server's own quick path, larger ones s3rver's: both store the same files.
  for (const [name, size] of [
    ['a small object', 300],
    ['an object over 1 MiB', 1024 * 1024 + 7],
  ] as const) {
    it(`stores ${name} as s3rver does: object, MD5 and metadata files; reads it back`, async () => {
      const body = Buffer.alloc(size, 'ab\n');
      const key = `t1/2026-12-06/${size}.jsonl`;
      const sut = await client.send(
        new PutObjectCommand({
          Bucket: 'bx-script',
          Key: key,
          Body: body,
          ContentType: 'application/x-ndjson',
          Metadata: { run: 'r1' },
        }),
      );
      const md5 = createHash('md5').update(body).digest('hex');
      expect(sut.ETag).to.equal(`"${md5}"`);
      const folder = join(server.directory, 'bx-script', 't1', '2026-12-06');
      expect(
        readdirSync(folder)
          .filter((f) => f.startsWith(`${size}.jsonl`))
          .sort(),
      ).to.deep.equal([
        `${size}.jsonl._S3rver_metadata.json`,
        `${size}.jsonl._S3rver_object`,
        `${size}.jsonl._S3rver_object.md5`,
      ]);
      expect(readFileSync(join(folder, `${size}.jsonl._S3rver_object`)).equals(body)).to.equal(true);
      expect(readFileSync(join(folder, `${size}.jsonl._S3rver_object.md5`), 'utf8')).to.equal(md5);
      expect(JSON.parse(readFileSync(join(folder, `${size}.jsonl._S3rver_metadata.json`), 'utf8'))).to.deep.equal({
        'content-type': 'application/x-ndjson',
        'x-amz-meta-run': 'r1',
      });
      const head = await client.send(new HeadObjectCommand({ Bucket: 'bx-script', Key: key }));
      expect([head.ContentLength, head.ContentType, head.Metadata]).to.deep.equal([
        size,
        'application/x-ndjson',
        { run: 'r1' },
      ]);
      const got = await client.send(new GetObjectCommand({ Bucket: 'bx-script', Key: key }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).to.equal(true);
    });
  }

  // The server reads a bucket's folder and its CORS and website configuration without the thread
  // pool: what they answer must not change.
  it('answers NoSuchBucket for a PUT to a bucket that does not exist', async () => {
    const sut = client.send(new PutObjectCommand({ Bucket: 'bx-script-absent', Key: 'a.jsonl', Body: 'x' }));
    const err = await sut.then(
      () => null,
      (e: unknown) => e as { name?: string; $metadata?: { httpStatusCode?: number } },
    );
    expect([err?.name, err?.$metadata?.httpStatusCode]).to.deep.equal(['NoSuchBucket', 404]);
  });

  it("applies a bucket's CORS configuration from the request after it is set, and not once it is deleted", async () => {
    const preflight = () =>
      fetch(`${server.endpoint}/bx-script/t1/x.jsonl`, {
        method: 'OPTIONS',
        headers: { origin: 'https://console.example', 'access-control-request-method': 'PUT' },
      });
    const before = await preflight();
    expect(before.status).to.equal(403);
    await client.send(
      new PutBucketCorsCommand({
        Bucket: 'bx-script',
        CORSConfiguration: {
          CORSRules: [{ AllowedOrigins: ['https://console.example'], AllowedMethods: ['PUT'] }],
        },
      }),
    );
    const sut = await preflight();
    expect([sut.status, sut.headers.get('access-control-allow-methods')]).to.deep.equal([200, 'PUT']);
    await client.send(new DeleteBucketCorsCommand({ Bucket: 'bx-script' }));
    expect((await preflight()).status).to.equal(403);
  });

  it('answers the ETag of a small PUT to a key whose folder exists already', async () => {
    const sut = await client.send(
      new PutObjectCommand({ Bucket: 'bx-script', Key: 't1/2026-12-06/300.jsonl_receipt.json', Body: '{}' }),
    );
    expect(sut.ETag).to.equal(`"${createHash('md5').update('{}').digest('hex')}"`);
  });

  // A small PUT as the product sends it is answered before s3rver's Koa stack; any other, or one
  // those checks would refuse, by s3rver itself. Both must answer alike.
  describe('small PUTs answered before Koa', () => {
    const captured = (sut: S3Client) => {
      const seen: Array<Record<string, string>> = [];
      sut.middlewareStack.add(
        (next) => async (args) => {
          const out = await next(args);
          seen.push({ ...(out.response as { headers: Record<string, string> }).headers });
          return out;
        },
        { step: 'deserialize', name: 'capture' },
      );
      return seen;
    };
    const other = (over: Record<string, unknown>) =>
      new S3Client({
        region: 'us-east-1',
        endpoint: server.endpoint,
        forcePathStyle: true,
        maxAttempts: 1,
        credentials: {
          accessKeyId: S3_CREDENTIALS.aws_access_key_id,
          secretAccessKey: S3_CREDENTIALS.aws_secret_access_key,
        },
        ...over,
      });

    it('answers with the status and headers s3rver gives the same PUT', async () => {
      const seen = captured(client);
      const body = 'one row\n';
      const md5 = createHash('md5').update(body).digest();
      // With a Content-MD5 s3rver answers it; without, the quick path does.
      await client.send(
        new PutObjectCommand({
          Bucket: 'bx-script',
          Key: 't2/a.jsonl',
          Body: body,
          ContentMD5: md5.toString('base64'),
        }),
      );
      const sut = await client.send(new PutObjectCommand({ Bucket: 'bx-script', Key: 't2/b.jsonl', Body: body }));
      expect(sut.ETag).to.equal(`"${md5.toString('hex')}"`);
      const [koa, quick] = seen.slice(-2).map(({ date: _date, ...rest }) => rest);
      expect(quick).to.deep.equal(koa);
      const got = await client.send(new GetObjectCommand({ Bucket: 'bx-script', Key: 't2/b.jsonl' }));
      expect(await got.Body!.transformToString()).to.equal(body);
    });

    it('leaves an unknown access key id and a skewed clock to s3rver, which refuses them', async () => {
      const put = (sut: S3Client, extra: Record<string, unknown> = {}) =>
        sut.send(new PutObjectCommand({ Bucket: 'bx-script', Key: 't3/x.jsonl', Body: 'x', ...extra })).then(
          () => 'stored',
          (e: { name?: string }) => e.name,
        );
      const unknown = other({ credentials: { accessKeyId: 'NOPE', secretAccessKey: 'NOPE' } });
      const skewed = other({ systemClockOffset: -3_600_000 });
      try {
        expect([await put(unknown), await put(skewed)]).to.deep.equal(['InvalidAccessKeyId', 'RequestTimeTooSkewed']);
      } finally {
        unknown.destroy();
        skewed.destroy();
      }
    });
  });
});

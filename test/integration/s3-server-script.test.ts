import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  CreateBucketCommand,
} from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
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
});

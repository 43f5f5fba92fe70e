import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { startBenchS3, type BenchS3Server } from '../../bench/s3-server';
import { S3_CREDENTIALS } from '../helpers/env';

/**
 * scripts/s3-server.js (s3rver with lean multipart parts), started here on a
 * port and folder of its own: the shared server on 4568 runs the main
 * checkout's script.
 */
describe('scripts/s3-server.js multipart uploads', () => {
  let sut: BenchS3Server;
  let client: S3Client;
  const Bucket = 'bx-s3-server';

  before(async () => {
    sut = await startBenchS3();
    client = new S3Client({
      region: 'us-east-1',
      endpoint: sut.endpoint,
      forcePathStyle: true,
      credentials: {
        accessKeyId: S3_CREDENTIALS.aws_access_key_id,
        secretAccessKey: S3_CREDENTIALS.aws_secret_access_key,
      },
    });
    await client.send(new CreateBucketCommand({ Bucket }));
  });
  after(async () => {
    client.destroy();
    await sut.close();
  });

  const md5 = (data: Buffer) => createHash('md5').update(data);
  const start = async (Key: string) => (await client.send(new CreateMultipartUploadCommand({ Bucket, Key }))).UploadId!;
  const put = async (Key: string, UploadId: string, PartNumber: number, Body: Buffer, ContentMD5?: string) =>
    (await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body, ContentMD5 }))).ETag!;
  const complete = (Key: string, UploadId: string, Parts: Array<{ PartNumber: number; ETag: string }>) =>
    client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
  const error = (p: Promise<unknown>) =>
    p.then(
      () => expect.fail('the request succeeded'),
      (err: { name: string }) => err.name,
    );

  it('joins the parts as sent and answers the multipart ETag of the part ETags', async () => {
    const parts = [randomBytes(5 * 1024 * 1024 + 3), randomBytes(70_001)];
    const id = await start('joined.bin');
    const etags = [await put('joined.bin', id, 1, parts[0]!), await put('joined.bin', id, 2, parts[1]!)];
    for (const etag of etags) expect(etag).to.match(/^"[0-9a-f]{32}"$/);
    // Different bodies of the same length have different ETags.
    expect(etags[0]).to.not.equal(await put('other.bin', await start('other.bin'), 1, randomBytes(parts[0]!.length)));
    const done = await complete('joined.bin', id, [
      { PartNumber: 2, ETag: etags[1]! },
      { PartNumber: 1, ETag: etags[0]! },
    ]);
    const joined = createHash('md5');
    for (const etag of etags) joined.update(Buffer.from(etag.slice(1, -1), 'hex'));
    expect(done.ETag).to.equal(`"${joined.digest('hex')}-2"`);
    const got = await client.send(new GetObjectCommand({ Bucket, Key: 'joined.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat(parts))).to.equal(true);
  });

  it('answers the MD5 of a part sent with its Content-MD5, and refuses one whose body does not match', async () => {
    const body = randomBytes(100_000);
    const id = await start('md5.bin');
    const etag = await put('md5.bin', id, 1, body, md5(body).digest('base64'));
    expect(etag).to.equal(`"${md5(body).digest('hex')}"`);
    const wrong = md5(Buffer.from('something else')).digest('base64');
    expect(await error(put('md5.bin', id, 2, body, wrong))).to.equal('BadDigest');
  });

  it('refuses to complete with a part ETag it did not answer, or a part it was not sent', async () => {
    const body = randomBytes(10_000);
    const id = await start('invalid.bin');
    const etag = await put('invalid.bin', id, 1, body);
    const other = `"${'0'.repeat(32)}"`;
    expect(await error(complete('invalid.bin', id, [{ PartNumber: 1, ETag: other }]))).to.equal('InvalidPart');
    const missing = [
      { PartNumber: 1, ETag: etag },
      { PartNumber: 2, ETag: etag },
    ];
    expect(await error(complete('invalid.bin', id, missing))).to.equal('InvalidPart');
    await complete('invalid.bin', id, [{ PartNumber: 1, ETag: etag }]);
  });
});

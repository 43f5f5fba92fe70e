import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { freePartBuffers, PartUpload } from '@bx/destination-s3';
import { recordCommands } from '../helpers/run-context';
import { createBucket, getObject, listKeys, testS3Client } from '../helpers/s3';

const MiB = 1024 * 1024;

describe('PartUpload on the S3 server', () => {
  const client = testS3Client();
  let bucket: string;
  beforeEach(async () => {
    bucket = await createBucket(client);
  });

  const upload = (key: string, partSize = 5 * MiB, c = client) =>
    new PartUpload({ client: c, bucket, key, contentType: 'application/octet-stream', partSize, queueSize: 2 });

  /** `data` written in pieces of uneven sizes, as a compressor hands them out. */
  async function writeUneven(target: PartUpload, data: Buffer): Promise<void> {
    let at = 0;
    for (let i = 0; at < data.length; i++) {
      const n = [1, 333_333, 2 * MiB + 7, 65_536, 4 * MiB][i % 5]!;
      await target.write(data.subarray(at, at + n));
      at += n;
    }
  }

  it('writes an object larger than a part as a multipart upload whose bytes are exactly the input', async () => {
    const c = testS3Client();
    const sent = recordCommands(c);
    const data = randomBytes(17 * MiB + 12_345);
    const target = upload('big.bin', 5 * MiB, c);
    await writeUneven(target, data);
    await target.complete();
    expect((await getObject(client, bucket, 'big.bin')).equals(data)).to.equal(true);
    // Parts may be sent out of order (two in flight); the upload's completion sorts them.
    const parts = sent
      .filter((s) => s.command === 'UploadPartCommand')
      .sort((a, b) => a.input.PartNumber - b.input.PartNumber)
      .map((s) => s.input.ContentLength);
    expect(parts).to.deep.equal([5 * MiB, 5 * MiB, 5 * MiB, 2 * MiB + 12_345]);
    expect(sent.map((s) => s.command)).to.include.members([
      'CreateMultipartUploadCommand',
      'CompleteMultipartUploadCommand',
    ]);
  });

  it('signs each part with the SHA-256 of exactly its bytes, hashed before the signer runs', async () => {
    const c = testS3Client();
    const beforeSigning: string[] = [];
    const hashes: Array<{ header: string; actual: string }> = [];
    // Last in the build step, before signing (finalizeRequest): a hash there is ours, not the signer's.
    c.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName === 'UploadPartCommand')
          beforeSigning.push(args.request.headers['x-amz-content-sha256']);
        return next(args);
      },
      { step: 'build', priority: 'low', name: 'captureHashBeforeSigning' },
    );
    // At the deserialize step the request is the one sent: signed, headers final.
    c.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName === 'UploadPartCommand') {
          hashes.push({
            header: args.request.headers['x-amz-content-sha256'],
            actual: createHash('sha256').update(args.request.body).digest('hex'),
          });
          expect(args.request.headers.authorization).to.contain('x-amz-content-sha256');
        }
        return next(args);
      },
      { step: 'deserialize', name: 'capturePayloadHash' },
    );
    const target = upload('signed.bin', 5 * MiB, c);
    await writeUneven(target, randomBytes(11 * MiB));
    await target.complete();
    expect(hashes).to.have.length(3);
    for (const h of hashes) expect(h.header).to.equal(h.actual);
    expect(beforeSigning.sort()).to.deep.equal(hashes.map((h) => h.actual).sort());
  });

  it('sends an object of exactly one part, and an empty one, with a single PutObject', async () => {
    const c = testS3Client();
    const sent = recordCommands(c);
    const data = randomBytes(5 * MiB);
    const one = upload('one.bin', 5 * MiB, c);
    await writeUneven(one, data);
    await one.complete();
    const empty = upload('empty.bin', 5 * MiB, c);
    await empty.complete();
    expect(sent.map((s) => s.command)).to.deep.equal(['PutObjectCommand', 'PutObjectCommand']);
    expect((await getObject(client, bucket, 'one.bin')).equals(data)).to.equal(true);
    expect(await getObject(client, bucket, 'empty.bin')).to.have.length(0);
  });

  it('hands its part buffers to the next upload once complete, each object exactly its bytes', async () => {
    // A part size of this test's own: the buffers counted are the ones these uploads give back.
    const partSize = 5 * MiB + 17;
    const first = randomBytes(11 * MiB);
    const a = upload('a.bin', partSize);
    await writeUneven(a, first);
    await a.complete();
    const free = freePartBuffers(partSize);
    expect(free).to.be.greaterThan(1);
    // The next object's first write takes a whole free part at once (no growing from 64 KiB).
    const second = randomBytes(7 * MiB);
    const b = upload('b.bin', partSize);
    await b.write(second.subarray(0, 100));
    expect(freePartBuffers(partSize)).to.equal(free - 1);
    await writeUneven(b, second.subarray(100));
    await b.complete();
    expect((await getObject(client, bucket, 'a.bin')).equals(first)).to.equal(true);
    expect((await getObject(client, bucket, 'b.bin')).equals(second)).to.equal(true);
    expect(freePartBuffers(partSize)).to.equal(free);
  });

  it('a failed part fails the upload, aborts it, and leaves no object', async () => {
    const c = testS3Client();
    const sent = recordCommands(c);
    c.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName === 'UploadPartCommand' && args.input.PartNumber === 2) {
          throw Object.assign(new Error('part 2 refused'), { name: 'InternalError' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failPartTwo' },
    );
    const target = upload('broken.bin', 5 * MiB, c);
    const free = freePartBuffers(5 * MiB);
    let failure: unknown;
    try {
      await writeUneven(target, randomBytes(16 * MiB));
      await target.complete();
    } catch (err) {
      failure = err;
    }
    expect(failure).to.have.property('message', 'part 2 refused');
    await target.abort(); // the abort the failure started: resolves once S3 has answered it
    expect(sent.map((s) => s.command)).to.include('AbortMultipartUploadCommand');
    expect(sent.map((s) => s.command)).not.to.include('CompleteMultipartUploadCommand');
    expect(await listKeys(client, bucket)).to.deep.equal([]);
    // Its buffers are not handed on: a request cut short might still hold one.
    expect(freePartBuffers(5 * MiB)).to.be.at.most(free);
  });
});

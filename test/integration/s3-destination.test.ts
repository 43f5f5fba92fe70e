import { randomBytes } from 'node:crypto';
import { CreateMultipartUploadCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { isRetryable, NetworkPolicy, PermanentError, RetryableError, type EventRow } from '@bx/core';
import type { S3Config } from '@bx/destination-s3';
import type { EventBatch } from '@bx/batch';
import { createS3Client, S3Destination, sharedAgents, sharedS3Client } from '@bx/destination-s3';
import { terminateZstdThread } from '@bx/zstd';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { asRows, chTime, expectedRecord, makeEvent, rowBatches } from '../helpers/events';
import { HttpFaultProxy } from '../helpers/http-fault-proxy';
import { MemoryRunState, recordCommands, runContext } from '../helpers/run-context';
import { eventually } from '../helpers/processes';
import { createBucket, getObject, listKeys, readJsonLines, s3WriterConfig, testS3Client } from '../helpers/s3';
import { zstdFrames } from '../helpers/zstd-frames';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const KEY_BASE = '2024-01-01T10:00:00+00:00-2024-01-01T11:00:00+00:00';

const ctx = (state = new MemoryRunState()) => runContext(span, state);

/** Source events as ClickHouse hands them out (team_id quoted, as 18.16 does). */
const batches = (rows: EventRow[], size = 500) => rowBatches(rows, size);

describe('S3 destination on the S3 server', () => {
  let client: S3Client;
  let bucket: string;
  const config = (overrides: Partial<S3Config> = {}): S3Config =>
    s3WriterConfig({
      bucket_name: bucket,
      endpoint_url: testEnv.S3_ENDPOINT_URL,
      ...S3_CREDENTIALS,
      ...overrides,
    });

  before(async () => {
    client = testS3Client();
  });
  beforeEach(async () => {
    bucket = await createBucket(client);
  });

  const events = Array.from({ length: 1200 }, (_, i) =>
    makeEvent({ inserted_at: chTime('2024-01-01T10:20:00Z'), event: i % 2 ? 'it\'s "q"\n' : '$pageview' }),
  );

  for (const compression of ['gzip', null, 'brotli', 'zstd'] as const) {
    it(`writes JSON Lines (${compression ?? 'uncompressed'}) under the contract key with the contract records`, async () => {
      const sut = new S3Destination(config({ prefix: 'events/{year}/{month}/{day}', compression }));
      const result = await sut.write(batches(asRows(events)), ctx());
      const ext = compression ? { gzip: '.gz', brotli: '.br', zstd: '.zst' }[compression] : '';
      const key = `events/2024/01/01/${KEY_BASE}.jsonl${ext}`;
      expect(await listKeys(client, bucket)).to.deep.equal([key]);
      expect(result).to.deep.include({ records: 1200, files: [key] });
      expect(result.bytes).to.equal((await getObject(client, bucket, key)).length);
      expect(await readJsonLines(client, bucket, key)).to.deep.equal(events.map(expectedRecord));
      if (compression === 'zstd') {
        // One frame (readers that stop after the first frame read it all), with the 128 KiB window.
        const object = await getObject(client, bucket, key);
        expect(zstdFrames(object)).to.deep.equal([{ bytes: object.length, window: 128 * 1024 }]);
      }
    });
  }

  it('a zstd thread that dies mid-file fails the write (retryable, no object); the next attempt writes it whole', async () => {
    const sut = new S3Destination(config({ compression: 'zstd' }));
    async function* dying(): AsyncGenerator<EventBatch> {
      let n = 0;
      for await (const batch of batches(asRows(events), 100)) {
        if (n++ === 3) await terminateZstdThread();
        yield batch;
      }
    }
    let failure: unknown = null;
    await sut.write(dying(), ctx()).catch((err: unknown) => (failure = err));
    expect((failure as Error | null)?.message).to.match(/zstd-thread\.js exited|zstd stream \d+ is not open/);
    expect(isRetryable(failure)).to.equal(true);
    expect(await listKeys(client, bucket)).to.deep.equal([]);
    const result = await sut.write(batches(asRows(events)), ctx());
    expect(result.files).to.deep.equal([`${KEY_BASE}.jsonl.zst`]);
    expect(await readJsonLines(client, bucket, result.files[0]!)).to.deep.equal(events.map(expectedRecord));
  });

  it('overwrites the same key when an interval is exported again', async () => {
    const sut = new S3Destination(config({ compression: 'gzip' }));
    await sut.write(batches(asRows(events)), ctx());
    await sut.write(batches(asRows(events.slice(0, 10))), ctx());
    const keys = await listKeys(client, bucket);
    expect(keys).to.deep.equal([`${KEY_BASE}.jsonl.gz`]);
    expect(await readJsonLines(client, bucket, keys[0]!)).to.have.length(10);
  });

  it('writes nothing for an interval without rows', async () => {
    const result = await new S3Destination(config()).write(batches([]), ctx());
    expect(result).to.deep.equal({ records: 0, bytes: 0, files: [] });
    expect(await listKeys(client, bucket)).to.deep.equal([]);
  });

  for (const compression of [null, 'zstd'] as const) {
    it(`splits by max_file_size_mb into -n files and writes the manifest last (${compression ?? 'uncompressed'})`, async () => {
      // Hex pads: zstd halves them, so compressed files still reach the limit.
      const many = Array.from({ length: 6000 }, () =>
        makeEvent({
          inserted_at: chTime('2024-01-01T10:20:00Z'),
          properties: JSON.stringify({ pad: randomBytes(200).toString('hex') }),
        }),
      );
      const sut = new S3Destination(config({ max_file_size_mb: 0.5, compression }));
      const result = await sut.write(batches(asRows(many), 250), ctx());
      expect(result.files.length).to.be.greaterThan(2);
      const ext = compression ? '.jsonl.zst' : '.jsonl';
      expect(result.files).to.deep.equal(result.files.map((_, i) => `${KEY_BASE}-${i}${ext}`));
      const manifest = JSON.parse((await getObject(client, bucket, `${KEY_BASE}_manifest.json`)).toString());
      expect(manifest).to.deep.equal({ files: result.files });
      const all = [];
      for (const key of result.files) {
        const size = (await getObject(client, bucket, key)).length;
        expect(size, key).to.be.below(0.5 * 1024 * 1024 + 250 * 700);
        all.push(...(await readJsonLines(client, bucket, key)));
      }
      expect(all).to.deep.equal(many.map(expectedRecord));
    });
  }

  it('a re-run that writes fewer files deletes the stale ones; the manifest lists exactly the new set', async () => {
    const big = Array.from({ length: 6000 }, () =>
      makeEvent({
        inserted_at: chTime('2024-01-01T10:20:00Z'),
        properties: JSON.stringify({ pad: 'x'.repeat(400) + Math.random() }),
      }),
    );
    const sut = new S3Destination(config({ max_file_size_mb: 0.5, compression: 'gzip' }));
    const state = new MemoryRunState();
    await new S3Destination(config({ max_file_size_mb: 0.3 })).write(batches(asRows(big), 250), ctx(state));
    const before = await listKeys(client, bucket);
    expect(before.length).to.be.greaterThan(5);
    const result = await sut.write(batches(asRows(big.slice(0, 2000)), 250), ctx(state));
    const after = await listKeys(client, bucket);
    expect(after).to.deep.equal([...result.files, `${KEY_BASE}_manifest.json`].sort());
    const rows = [];
    for (const key of result.files) rows.push(...(await readJsonLines(client, bucket, key)));
    expect(rows).to.have.length(2000);
    // And back to a single file: the split files and manifest go.
    await new S3Destination(config({ compression: 'gzip' })).write(batches(asRows(big.slice(0, 10))), ctx(state));
    expect(await listKeys(client, bucket)).to.deep.equal([`${KEY_BASE}.jsonl.gz`]);
  });

  it('an empty re-run removes the objects of the earlier attempt', async () => {
    await new S3Destination(config()).write(batches(asRows(events)), ctx());
    await new S3Destination(config()).write(batches([]), ctx());
    expect(await listKeys(client, bucket)).to.deep.equal([]);
  });

  it('aborts a multipart upload that a crashed attempt left open (recorded in the run state)', async () => {
    const s3 = createS3Client(config());
    const key = `${KEY_BASE}.jsonl`;
    const open = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: open.UploadId, PartNumber: 1, Body: 'partial' }),
    );
    const state = new MemoryRunState();
    await state.set({ uploads: [{ key, upload_id: open.UploadId }] });
    const client2 = createS3Client(config());
    const sent = recordCommands(client2);
    await new S3Destination(config(), client2).write(batches(asRows(events.slice(0, 5))), ctx(state));
    // s3rver answers AbortMultipartUpload with 405, so the request itself is what can be checked here.
    expect(sent.filter((c) => c.command === 'AbortMultipartUploadCommand').map((c) => c.input)).to.deep.equal([
      { Bucket: bucket, Key: key, UploadId: open.UploadId },
    ]);
    expect(state.value).to.deep.equal({ uploads: [] });
  });

  it('keeps an upload it could not abort for now (S3 throttling) recorded, fails the attempt, and aborts it next time', async () => {
    const proxy = await new HttpFaultProxy(Number(new URL(testEnv.S3_ENDPOINT_URL).port)).start();
    try {
      const viaProxy = (overrides: Partial<S3Config> = {}) => config({ endpoint_url: proxy.url, ...overrides });
      const s3 = createS3Client(viaProxy());
      const key = `${KEY_BASE}.jsonl`;
      const open = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      const left = { key, upload_id: open.UploadId! };
      const state = new MemoryRunState();
      await state.set({ uploads: [left] });
      // Every request answered 503 SlowDown, the abort's retries by the SDK included.
      void proxy.inject({ kind: 'status', every: 1 }, 60_000);
      const err = await new S3Destination(viaProxy())
        .write(batches(asRows(events.slice(0, 5))), ctx(state))
        .catch((e: unknown) => e);
      expect(err).to.be.instanceOf(RetryableError);
      expect((err as Error).message).to.match(/abort of an earlier attempt's multipart upload failed: SlowDown/);
      expect(state.value).to.deep.equal({ uploads: [left] });
      expect(proxy.openUploads().map((u) => u.uploadId)).to.deep.equal([left.upload_id]);
      proxy.clear();
      const result = await new S3Destination(viaProxy()).write(batches(asRows(events.slice(0, 5))), ctx(state));
      expect(result.records).to.equal(5);
      expect(proxy.openUploads()).to.deep.equal([]);
      expect(proxy.allUploads().find((u) => u.uploadId === left.upload_id)?.state).to.equal('aborted');
      expect(state.value).to.deep.equal({ uploads: [] });
    } finally {
      await proxy.stop();
    }
  });

  it('records each multipart upload it opens in the run state before sending parts', async () => {
    const state = new MemoryRunState();
    const seen: unknown[] = [];
    const spy = {
      get: state.get.bind(state),
      set: async (v: unknown) => {
        seen.push(v);
        await state.set(v);
      },
    };
    const big = Array.from({ length: 45_000 }, () =>
      makeEvent({ inserted_at: chTime('2024-01-01T10:20:00Z'), properties: JSON.stringify({ pad: 'y'.repeat(500) }) }),
    );
    const result = await new S3Destination(config()).write(batches(asRows(big), 2000), runContext(span, spy));
    expect(result.records).to.equal(45_000);
    expect(result.bytes).to.be.greaterThan(16 * 1024 * 1024);
    expect(seen[seen.length - 2]).to.have.nested.property('uploads[0].key', `${KEY_BASE}.jsonl`);
    expect(seen[seen.length - 1]).to.deep.equal({ uploads: [] });
    expect(await readJsonLines(client, bucket, `${KEY_BASE}.jsonl`)).to.have.length(45_000);
  });

  it('aborts a multipart upload at once when it cannot be recorded in the run state (Redis away)', async () => {
    const proxy = await new HttpFaultProxy(Number(new URL(testEnv.S3_ENDPOINT_URL).port)).start();
    try {
      const state = new MemoryRunState();
      // Redis is away as the upload is opened: no later attempt could learn of it from the run.
      const away = {
        get: state.get.bind(state),
        set: async (v: unknown) => {
          if ((v as { uploads?: unknown[] }).uploads?.length) throw new Error('Redis: connection is closed');
          await state.set(v);
        },
      };
      const big = Array.from({ length: 45_000 }, () =>
        makeEvent({
          inserted_at: chTime('2024-01-01T10:20:00Z'),
          properties: JSON.stringify({ pad: 'y'.repeat(500) }),
        }),
      );
      const err = await new S3Destination(config({ endpoint_url: proxy.url }))
        .write(batches(asRows(big), 2000), runContext(span, away))
        .catch((e: unknown) => e);
      expect((err as Error).message).to.contain('connection is closed');
      expect(proxy.allUploads(), 'an upload was opened').to.have.length(1);
      expect(proxy.openUploads(), 'none left open').to.deep.equal([]);
      expect(await listKeys(client, bucket)).to.deep.equal([]);
    } finally {
      await proxy.stop();
    }
  });

  it('runs under the same network policy share keep-alive agents, and with the same credentials one client', () => {
    const sut = sharedAgents();
    const policy = new NetworkPolicy(['127.0.0.1']);
    expect(sharedAgents()).to.equal(sut);
    expect(sharedAgents(policy)).to.equal(sharedAgents(policy)).and.not.equal(sut);
    const client = sharedS3Client(config(), policy);
    expect(sharedS3Client(config(), policy)).to.equal(client);
    expect(sharedS3Client(config())).to.not.equal(client);
    expect(sharedS3Client(config({ aws_secret_access_key: 'another' }), policy)).to.not.equal(client);
    expect(sharedS3Client(config({ region: 'eu-west-1' }), policy)).to.not.equal(client);
  });

  it('a cancelled run stops its own requests only, on the client it shares with another run', async () => {
    const proxy = await new HttpFaultProxy(Number(new URL(testEnv.S3_ENDPOINT_URL).port)).start();
    try {
      const shared = config({ endpoint_url: proxy.url });
      const other = { start: span.end, end: span.end + 3_600_000 };
      // Every answer is held a while: both runs' PUTs are under way at once.
      void proxy.inject({ kind: 'delay', minMs: 800, maxMs: 800 }, 60_000);
      const cancel = new AbortController();
      const cancelled = new S3Destination(shared)
        .write(batches(asRows(events.slice(0, 3))), { ...ctx(), signal: cancel.signal })
        .catch((e: unknown) => e);
      const going = new S3Destination(shared).write(batches(asRows(events.slice(3, 6))), runContext(other));
      await eventually(async () => (proxy.counts.delayed >= 2 ? true : undefined), 10_000, 'both PUTs under way');
      cancel.abort();
      const err = await cancelled;
      expect(err).to.be.instanceOf(RetryableError);
      expect((err as RetryableError).code).to.equal('Aborted');
      expect((await going).records).to.equal(3);
      proxy.clear();
      const keys = await listKeys(client, bucket);
      expect(keys.filter((k) => k.startsWith(KEY_BASE))).to.deep.equal([]);
      expect(keys.filter((k) => k.endsWith('.jsonl'))).to.have.length(1);
    } finally {
      await proxy.stop();
    }
  });

  it('sends server-side encryption parameters on every upload', async () => {
    for (const [encryption, kms] of [
      ['AES256', undefined],
      ['aws:kms', 'arn:aws:kms:eu-west-1:1:key/abc'],
    ] as const) {
      const cfg = config({ encryption, kms_key_id: kms, max_file_size_mb: 0.2 });
      const s3 = createS3Client(cfg);
      const sent = recordCommands(s3);
      const many = Array.from({ length: 3000 }, () =>
        makeEvent({
          inserted_at: chTime('2024-01-01T10:20:00Z'),
          properties: JSON.stringify({ pad: Math.random().toString(36).repeat(20) }),
        }),
      );
      await new S3Destination(cfg, s3).write(batches(asRows(many), 250), ctx());
      const uploads = sent.filter((c) => ['PutObjectCommand', 'CreateMultipartUploadCommand'].includes(c.command));
      expect(uploads.length).to.be.greaterThan(2);
      for (const u of uploads) {
        expect(u.input.ServerSideEncryption, u.command).to.equal(encryption);
        expect(u.input.SSEKMSKeyId, u.command).to.equal(kms);
      }
    }
  });

  it('fails permanently on a missing bucket and on an unknown access key, with S3 message', async () => {
    const missing = new S3Destination(config({ bucket_name: 'no-such-bucket-here' }));
    const err1 = await missing.write(batches(asRows(events)), ctx()).catch((e: unknown) => e);
    expect(err1).to.be.instanceOf(PermanentError);
    expect((err1 as Error).message).to.match(/NoSuchBucket/);
    const badKey = new S3Destination(config({ aws_access_key_id: 'WRONG' }));
    const err2 = await badKey.write(batches(asRows(events)), ctx()).catch((e: unknown) => e);
    expect(err2).to.be.instanceOf(PermanentError);
    expect((err2 as Error).message).to.match(/InvalidAccessKeyId/);
  });

  it('check() writes and deletes a test object, and reports errors', async () => {
    await new S3Destination(config()).check();
    expect(await listKeys(client, bucket)).to.deep.equal([]);
    const err = await new S3Destination(config({ bucket_name: 'no-such-bucket-here' }))
      .check()
      .catch((e: unknown) => e);
    expect((err as Error).message).to.match(/NoSuchBucket/);
  });
});

import { CreateMultipartUploadCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { RetryableError, createLogger, runIdFor } from '@bx/core';
import { supersededError, type DestinationWriter, type RunContext } from '@bx/batch';
import { RerunCleanup, type S3RunState } from '@bx/destination-s3';
import { Store } from '@bx/store';
import { createRunProcessor, type RunExportDeps } from '@bx/worker';
import { testEnv, uniqueName } from '../helpers/env';
import { exportFixture } from '../helpers/export-fixture';
import { MemoryRunState, recordCommands, jobContext, sourceConfig } from '../helpers/run-context';
import { createBucket, listKeys, testS3Client } from '../helpers/s3';

const logger = createLogger({}, 'error');
const STEM = 'p/2024-01-01T00:00:00-2024-01-01T01:00:00';

/** A state that says whether an earlier attempt of the run has started. */
class AttemptState extends MemoryRunState {
  constructor(readonly fresh: boolean) {
    super();
  }
}

/** The S3 re-run clean-up costs nothing on a run's first attempt, and still cleans up after a crashed one. */
describe('S3 clean-up on a first attempt and on a re-run', () => {
  let s3: S3Client;
  let bucket: string;

  beforeEach(async () => {
    s3 = testS3Client();
    bucket = await createBucket(s3);
  });

  /** What S3Destination does around its writes, with one small object written. */
  const attempt = async (state: AttemptState, key: string) => {
    const sut = new RerunCleanup(s3, bucket, STEM, state, logger);
    const sent = recordCommands(s3);
    await sut.abortStaleUploads();
    await sut.tracking().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    const deleted = await sut.deleteStale([key]);
    await sut.done();
    return { commands: sent.map((c) => c.command), deleted };
  };

  it('a first attempt sends no list request and writes no state', async () => {
    const state = new AttemptState(true);
    const { commands } = await attempt(state, `${STEM}.jsonl`);
    expect(commands).to.deep.equal(['PutObjectCommand']);
    expect(state.value).to.equal(null);
  });

  it('a later attempt aborts the upload a crashed one left open and deletes the objects it did not write', async () => {
    const open = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${STEM}-0.jsonl` }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${STEM}-2.jsonl`, Body: 'stale' }));
    const state = new AttemptState(false);
    await state.set({ uploads: [{ key: `${STEM}-0.jsonl`, upload_id: open.UploadId! }] } satisfies S3RunState);

    const { commands, deleted } = await attempt(state, `${STEM}-0.jsonl`);
    expect(commands).to.include.members(['AbortMultipartUploadCommand', 'ListObjectsV2Command']);
    expect(deleted).to.deep.equal([`${STEM}-2.jsonl`]);
    expect(await listKeys(s3, bucket)).to.deep.equal([`${STEM}-0.jsonl`]);
    expect(state.value).to.deep.equal({ uploads: [] });
  });

  it('an attempt that opened a multipart upload (completed since) takes it off the state when done', async () => {
    const state = new AttemptState(true);
    const sut = new RerunCleanup(s3, bucket, STEM, state, logger);
    const upload = await sut
      .tracking()
      .send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${STEM}.jsonl` }));
    expect(state.value).to.deep.equal({ uploads: [{ key: `${STEM}.jsonl`, upload_id: upload.UploadId, bucket }] });
    await sut.done();
    expect(state.value).to.deep.equal({ uploads: [] });
  });

  it('an upload the run state refuses to record (a later attempt took over) is aborted at once', async () => {
    const state = Object.assign(new AttemptState(false), {
      set: async () => {
        throw supersededError();
      },
    });
    const sut = new RerunCleanup(s3, bucket, STEM, state, logger);
    const sent = recordCommands(s3);
    const err = await sut
      .tracking()
      .send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${STEM}.jsonl` }))
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RetryableError).with.property('code', 'Superseded');
    // No attempt would ever abort it: it is recorded nowhere.
    const aborts = sent.filter((c) => c.command === 'AbortMultipartUploadCommand');
    expect(aborts.map((c) => c.input.Key)).to.deep.equal([`${STEM}.jsonl`]);
    expect(aborts[0]!.input.UploadId).to.be.a('string').that.is.not.empty;
    // Nor is it this attempt's to clear when done (which would call the refusing state again).
    await sut.done();
  });

  it('what an attempt left on another S3 endpoint or region is left there, not reached through this one', async () => {
    // The export PATCHed to another endpoint whose bucket has the old name: another deployment's objects.
    const other = 'http://old-endpoint.example:9000 eu-west-1';
    const open = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `old/${STEM}-0.jsonl` }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `old/${STEM}-0.jsonl`, Body: 'not ours' }));
    const state = new AttemptState(false);
    await state.set({
      uploads: [{ key: `old/${STEM}-0.jsonl`, upload_id: open.UploadId!, bucket, service: other }],
      location: { bucket, stem: `old/${STEM}`, service: other },
    } satisfies S3RunState);
    const sut = new RerunCleanup(s3, bucket, STEM, state, logger, 'http://new-endpoint.example us-east-1');
    const sent = recordCommands(s3);
    await sut.abortStaleUploads();
    const commands = sent.map((c) => c.command);
    expect(commands).not.to.include('AbortMultipartUploadCommand');
    expect(commands).not.to.include('DeleteObjectsCommand');
    expect(await listKeys(s3, bucket)).to.deep.equal([`old/${STEM}-0.jsonl`]);
    // The same records on this attempt's own service are cleaned up.
    const same = new AttemptState(false);
    await same.set({ location: { bucket, stem: `old/${STEM}`, service: other }, uploads: [] } satisfies S3RunState);
    await new RerunCleanup(s3, bucket, STEM, same, logger, other).abortStaleUploads();
    expect(await listKeys(s3, bucket)).to.deep.equal([]);
  });

  it('attempts sharing one client record only the uploads they open themselves', async () => {
    const states = [new AttemptState(true), new AttemptState(true)];
    const suts = states.map((state) => new RerunCleanup(s3, bucket, STEM, state, logger));
    const clients = suts.map((sut) => sut.tracking());
    const keys = ['a', 'b', 'c', 'd'].map((k) => `${STEM}-${k}.jsonl`);
    const opened = await Promise.all(
      keys.map((Key, i) => clients[i % 2]!.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }))),
    );
    await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${STEM}-e.jsonl` }));
    // The uploads were opened concurrently: each attempt records its own, in the order they answered.
    for (const [n, state] of states.entries()) {
      expect((state.value as { uploads: unknown[] }).uploads).to.have.deep.members(
        [0, 2].map((i) => ({ key: keys[i + n], upload_id: opened[i + n]!.UploadId, bucket })),
      );
    }
  });
});

describe('the worker tells a destination whether the run was started before', () => {
  let prefix: string;
  let store: Store;

  beforeEach(() => {
    prefix = uniqueName('bxf');
    store = Store.connect(testEnv.REDIS_URL, prefix);
  });
  afterEach(async () => {
    const keys = await store.redis.keys(`${prefix}:*`);
    if (keys.length) await store.redis.del(...keys);
    await store.close();
  });

  it('fresh on the first start of a run only, whichever queue attempt it is', async () => {
    const T0 = Date.parse('2024-01-01T00:00:00Z');
    await store.exports.create(exportFixture('e1', T0), T0, null);
    const run = {
      run_id: runIdFor('e1', T0),
      export_id: 'e1',
      data_interval_start: T0,
      data_interval_end: T0 + 3600_000,
    };
    await store.runs.createMany([{ ...run, id: run.run_id }]);
    const seen: Array<boolean | undefined> = [];
    const destination: DestinationWriter = {
      write: async (_batches: unknown, ctx: RunContext) => {
        seen.push(ctx.state.fresh);
        return { records: 0, bytes: 0, files: [] };
      },
    };
    const noRows = async function* () {};
    const sut = createRunProcessor({
      store,
      // Whatever the source's method is called, this destination reads nothing from it.
      source: { rows: noRows, batches: noRows, modelBatches: noRows } as unknown as RunExportDeps['source'],
      destinationFor: () => destination,
      config: sourceConfig('default'),
      logger,
    });
    const ctx = jobContext();

    await sut(run, ctx);
    // Run again with the queue's attempt 1 again, as after a manual retry or a worker killed mid-run:
    // the run record counts a second start.
    await store.runs.reschedule(run.run_id);
    await sut(run, ctx);
    expect(seen).to.deep.equal([true, false]);
  });
});

import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { RetryableError, type EventRow } from '@bx/core';
import type { EventBatch, RunState } from '@bx/batch';
import { S3Destination, type S3Config } from '@bx/destination-s3';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { MemoryRunState, runContext } from '../helpers/run-context';
import { createBucket, listKeys, readJsonLines, s3TestConfig, testS3Client } from '../helpers/s3';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const KEY = '2024-01-01T10:00:00+00:00-2024-01-01T11:00:00+00:00';

/** Batches of `rows`; after the first, waits for `gate` (an attempt frozen mid-run: SIGSTOP, a long GC pause). */
async function* frozenAfterFirst(rows: EventRow[], gate: Promise<void>): AsyncGenerator<EventBatch> {
  let first = true;
  for await (const batch of rowBatches(rows, 100)) {
    if (!first) await gate;
    first = false;
    yield batch;
  }
}

/**
 * An attempt that lost its lock (its worker frozen for longer than the lock lasts) while a later
 * attempt took the run over and completed it: what the late attempt does when it wakes must not
 * undo the later attempt's objects.
 */
describe('S3 destination: an attempt superseded by a later one', () => {
  let client: S3Client;
  let bucket: string;
  const config = (overrides: Partial<S3Config> = {}): S3Config =>
    s3TestConfig(bucket, { compression: null, ...overrides });
  const events = Array.from({ length: 600 }, () => makeEvent({ inserted_at: chTime('2024-01-01T10:20:00Z') }));

  before(() => {
    client = testS3Client();
  });
  beforeEach(async () => {
    bucket = await createBucket(client);
  });

  for (const [name, overrides, keys] of [
    ['one object', {}, [`${KEY}.jsonl`]],
    ['split into files', { max_file_size_mb: 0.05 }, null],
  ] as const) {
    it(`shut down after the later attempt completed, it deletes none of its objects (${name})`, async () => {
      const state = new MemoryRunState();
      let latest = 1;
      const attempt = (n: number, fresh: boolean): RunState =>
        Object.assign(Object.create(state) as MemoryRunState, { fresh, isLatest: async () => latest === n });
      const shutdown = new AbortController();
      let wake!: () => void;
      const gate = new Promise<void>((resolve) => (wake = resolve));
      const zombie = new S3Destination(config(overrides))
        .write(frozenAfterFirst(asRows(events), gate), {
          ...runContext(span, attempt(1, true)),
          signal: shutdown.signal,
        })
        .catch((e: unknown) => e);
      // Attempt 1 has started its first object (frozen after one batch); attempt 2 takes over and completes.
      await new Promise((resolve) => setTimeout(resolve, 100));
      latest = 2;
      const sut = await new S3Destination(config(overrides)).write(
        rowBatches(asRows(events), 100),
        runContext(span, attempt(2, false)),
      );
      expect(sut.records).to.equal(events.length);
      const written = await listKeys(client, bucket);
      if (keys) expect(written.filter((k) => !k.endsWith('_receipt.json'))).to.deep.equal(keys);
      else expect(sut.files.length).to.be.greaterThan(1);

      // The frozen worker wakes into its shutdown (SIGTERM): its attempt is aborted.
      shutdown.abort();
      wake();
      const err = await zombie;
      expect(err).to.be.instanceOf(RetryableError);
      expect(await listKeys(client, bucket)).to.deep.equal(written);
      let rows = 0;
      for (const key of sut.files) rows += (await readJsonLines(client, bucket, key)).length;
      expect(rows).to.equal(events.length);
    });
  }

  it('woken mid-run after the later attempt completed, it replaces and deletes none of its objects', async () => {
    const state = new MemoryRunState();
    let latest = 2;
    const attempt = (n: number): RunState =>
      Object.assign(Object.create(state) as MemoryRunState, { fresh: false, isLatest: async () => latest === n });
    let wake!: () => void;
    const gate = new Promise<void>((resolve) => (wake = resolve));
    // Attempt 2 read fewer rows (its first file is the same as the later attempt's first).
    const zombie = new S3Destination(config({ max_file_size_mb: 0.05 }))
      .write(frozenAfterFirst(asRows(events.slice(0, 200)), gate), runContext(span, attempt(2)))
      .catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    latest = 3;
    const sut = await new S3Destination(config({ max_file_size_mb: 0.05 })).write(
      rowBatches(asRows(events), 100),
      runContext(span, attempt(3)),
    );
    const written = await listKeys(client, bucket);
    wake();
    const err = await zombie;
    expect(err).to.be.instanceOf(RetryableError);
    expect((err as RetryableError).code).to.equal('Superseded');
    expect(await listKeys(client, bucket)).to.deep.equal(written);
    let rows = 0;
    for (const key of sut.files) rows += (await readJsonLines(client, bucket, key)).length;
    expect(rows).to.equal(events.length);
  });
});

import { expect } from 'chai';
import { RetryableError, createLogger, runIdFor } from '@bx/core';
import type { DestinationWriter, RunContext } from '@bx/batch';
import { Store, type AttemptRef } from '@bx/store';
import { createRunProcessor, type RunExportDeps } from '@bx/worker';
import { testEnv, uniqueName } from '../helpers/env';
import { exportFixture } from '../helpers/export-fixture';
import { deleteKeysUnder } from '../helpers/redis-keys';
import { jobContext, sourceConfig } from '../helpers/run-context';

/**
 * A worker frozen mid-run (SIGSTOP, a paused VM) whose run another attempt
 * took over: when it wakes, the state it keeps (its open multipart uploads)
 * must not replace the later attempt's, or an attempt after that one (the
 * later killed too) would never abort the later attempt's uploads.
 */
describe("the worker: a superseded attempt's run state is refused", () => {
  let store: Store;
  const T0 = Date.parse('2024-01-01T00:00:00Z');
  const job = {
    run_id: runIdFor('e1', T0),
    export_id: 'e1',
    data_interval_start: T0,
    data_interval_end: T0 + 3_600_000,
  };

  beforeEach(async () => {
    store = Store.connect(testEnv.REDIS_URL, uniqueName('bxs'));
    await store.exports.create(exportFixture('e1', T0), T0, null);
    await store.runs.createMany([{ ...job, id: job.run_id }], T0);
  });
  afterEach(async () => {
    await deleteKeysUnder(store.redis, store.keys.prefix);
    await store.close();
  });

  it('woken after a later attempt started, its state.set fails Superseded and the later state stays', async () => {
    let later: AttemptRef | null = null;
    let refused: unknown = null;
    const destination: DestinationWriter = {
      write: async (_batches: unknown, ctx: RunContext) => {
        await ctx.state.set({ uploads: [{ key: 'k', upload_id: 'first' }] });
        // Frozen here for longer than the lock: another worker starts the run and records its upload.
        const answer = await store.runs.start(job.run_id);
        if (answer.status !== 'started') throw new Error(answer.status);
        later = { attempt: answer.attempt, token: answer.token };
        expect(await store.runs.setState(job.run_id, { uploads: [{ key: 'k', upload_id: 'later' }] }, later)).to.equal(
          'ok',
        );
        // Woken: it opens another upload and records it.
        refused = await ctx.state.set({ uploads: [{ key: 'k', upload_id: 'woken' }] }).catch((e: unknown) => e);
        throw refused;
      },
    };
    const noRows = async function* () {};
    const sut = createRunProcessor({
      store,
      source: { modelBatches: noRows } as unknown as RunExportDeps['source'],
      destinationFor: () => destination,
      config: sourceConfig('default'),
      logger: createLogger({}, 'error'),
    });

    expect(await sut(job, jobContext())).to.deep.equal({ status: 'skipped', reason: 'superseded' });
    expect(refused).to.be.instanceOf(RetryableError).with.property('code', 'Superseded');
    expect(await store.runs.state(job.run_id)).to.deep.equal({ uploads: [{ key: 'k', upload_id: 'later' }] });
    // The later attempt is the run's still: it records its outcome.
    expect(await store.runs.complete(job.run_id, { records: 0, bytes: 0, files: [] }, T0, later!)).to.equal('ok');
  });
});

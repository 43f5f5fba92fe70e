import { expect } from 'chai';
import { createLogger } from '@bx/core';
import { BackfillPump, BackfillService, ExportJanitor, ExportService } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { deleteKeysUnder } from '../helpers/redis-keys';

const HOUR = 3_600_000;
/** Backfills the pump looks at per pass (BackfillPump's PASS_BACKFILLS). */
const PASS_BACKFILLS = 200;

/**
 * DELETE of an export while a backfill of it is being created: the backfill's API call read the
 * export before the DELETE and wrote its record after the deleted export was cleaned up (the
 * janitor runs every few ticks). Such a record belongs to no export any more. It used to stay
 * among the active backfills for good, stepped (to no effect) on every pass, and the pump looks
 * at the oldest 200 only: enough of them and no other backfill was ever stepped again.
 */
describe('a backfill whose export was deleted under it', function () {
  this.timeout(60_000);
  const prefix = uniqueName('bxbfdel');
  const logger = createLogger({}, 'error');
  let store: Store;
  let queue: BullMqRunQueue;
  let exports: ExportService;

  before(() => {
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 3, backoffMs: 100 });
    exports = new ExportService(store, queue, logger);
  });
  after(async () => {
    await queue.obliterate().catch(() => undefined);
    await queue.close();
    await deleteKeysUnder(store.redis, prefix);
    await store.close();
  });

  const exportBody = (paused: boolean) => ({
    name: 'backfill under delete',
    team_id: 31,
    interval: 'hour',
    paused,
    destination: {
      type: 'S3',
      config: { bucket_name: 'bx-unused', endpoint_url: 'http://127.0.0.1:9', prefix: 'p', ...S3_CREDENTIALS },
    },
  });

  it('leaves the active backfills, and the others are stepped', async () => {
    const gone = await exports.create(exportBody(false));
    await exports.delete(gone.id);
    await new ExportJanitor(store, queue, logger).pass();
    // What the late backfill writes: records of the deleted export, older than any other backfill.
    const now = Date.now();
    const orphans: string[] = Array.from({ length: PASS_BACKFILLS }, () => randomUUID());
    for (const [i, id] of orphans.entries()) {
      await store.backfills.create({
        id,
        export_id: gone.id,
        start_at: new Date(now - 10 * HOUR).toISOString(),
        end_at: new Date(now - 5 * HOUR).toISOString(),
        force: false,
        total_runs: 5,
        created_at: new Date(now - 60_000 + i).toISOString(),
        cursor: now - 10 * HOUR,
      });
    }
    // Another export's backfill, created while its export is paused: the pump steps it once unpaused.
    const live = await exports.create(exportBody(true));
    const start = Math.floor(now / HOUR) * HOUR - 4 * HOUR;
    const created = await new BackfillService(store, queue, logger).create(live.id, {
      start_at: new Date(start).toISOString(),
      end_at: new Date(start + 3 * HOUR).toISOString(),
    });
    if (!('backfill' in created)) throw new Error('backfill not created');
    await exports.unpause(live.id);

    const sut = new BackfillPump(store, queue, logger);
    for (let pass = 0; pass < 3; pass++) await sut.pass();

    const active = await store.backfills.active(PASS_BACKFILLS + 10);
    expect(
      active.filter((id) => orphans.includes(id)),
      'orphans still active',
    ).to.deep.equal([]);
    const runs = await store.runs.list(live.id, { limit: 10 });
    expect(runs.filter((r) => r.backfill_id === created.backfill.id)).to.have.length(3);
  });
});

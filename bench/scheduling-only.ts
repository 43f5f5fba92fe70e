/** `npx tsx bench/scheduling-only.ts`: the scheduling figures of the benchmark alone (fast to iterate on). */
import { isolated } from './isolated';
import { backfillAccept, schedulerTick } from './scheduling';

async function main(): Promise<void> {
  console.log('tick', JSON.stringify(await isolated(`bxsched${Date.now()}t`, schedulerTick)));
  console.log('backfill', JSON.stringify(await isolated(`bxsched${Date.now()}b`, backfillAccept)));
}
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

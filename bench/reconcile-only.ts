/** `npx tsx bench/reconcile-only.ts`: the benchmark's `reconcile_pass_1k_s` alone (fast to iterate on). */
import { isolated } from './isolated';
import { reconcilePass1k } from './reconcile';

async function main(): Promise<void> {
  const result = await isolated(`bxrec${Date.now()}`, (store, queue) =>
    reconcilePass1k(store, queue, process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123'),
  );
  console.log('reconcile_pass_1k', JSON.stringify(result));
}
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

import { ConfigError, NotFoundError, ValidationError, createLogger, errorMessage, loadConfig } from '@bx/core';
import { BackfillService, type Backfill } from '@bx/operations';
import { RunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { parseArgs } from 'node:util';
import { progressLine, summaryTable } from './progress';

const USAGE = `usage: npm run enqueue-backfill -- --export-id <id> --start <ISO 8601> --end <ISO 8601> [--force] [--wait]

Enqueues one run per interval of the export in [start, end), behind scheduled runs.
Intervals already exported (or queued) are skipped unless --force.
  --wait   follow the runs with a progress bar; exit 1 if any run failed
Environment: REDIS_URL, QUEUE_PREFIX (as the services).`;

/** Exit codes: 0 done, 1 runs failed or the backfill could not be created, 2 bad arguments. */
export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out = process.stdout,
  err = process.stderr,
): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        'export-id': { type: 'string' },
        start: { type: 'string' },
        end: { type: 'string' },
        force: { type: 'boolean', default: false },
        wait: { type: 'boolean', default: false },
        'poll-ms': { type: 'string', default: '1000' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    err.write(`enqueue-backfill: ${errorMessage(e)}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    out.write(USAGE + '\n');
    return 0;
  }
  const missing = (['export-id', 'start', 'end'] as const).filter((name) => !args[name]);
  if (missing.length) {
    err.write(`enqueue-backfill: missing ${missing.map((m) => `--${m}`).join(', ')}\n${USAGE}\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(env);
  } catch (e) {
    err.write(`enqueue-backfill: ${e instanceof ConfigError ? e.message : errorMessage(e)}\n`);
    return 2;
  }
  const store = Store.connect(config.REDIS_URL, config.QUEUE_PREFIX);
  const queue = RunQueue.fromConfig(config);
  const service = new BackfillService(
    store,
    queue,
    createLogger({ service: 'enqueue-backfill' }, 'warn', (line) => err.write(line + '\n')),
  );
  const began = Date.now();
  try {
    const exportId = args['export-id']!;
    const created = await service.create(exportId, { start_at: args.start, end_at: args.end, force: args.force });
    const b = created.backfill;
    out.write(
      `backfill ${b.id}: ${b.total_runs} intervals from ${b.start_at} to ${b.end_at}; enqueued ${created.enqueued}, skipped ${created.skipped} already exported or in flight\n`,
    );
    let final: Backfill = b;
    if (args.wait) final = await follow(service, exportId, b.id, Number(args['poll-ms']), began, out);
    out.write(
      summaryTable([
        ['backfill', final.id],
        ['status', final.status],
        ['intervals', final.total_runs],
        ['enqueued now', created.enqueued],
        ['skipped', created.skipped],
        ['finished', final.finished_runs],
        ['failed', final.failed_runs],
        ['rows exported', final.records_completed],
        ['elapsed', `${((Date.now() - began) / 1000).toFixed(1)} s`],
      ]) + '\n',
    );
    return final.failed_runs > 0 ? 1 : 0;
  } catch (e) {
    const bad = e instanceof ValidationError;
    err.write(`enqueue-backfill: ${bad || e instanceof NotFoundError ? e.message : `failed: ${errorMessage(e)}`}\n`);
    return bad ? 2 : 1;
  } finally {
    await queue.close();
    await store.close();
  }
}

/** Polls until every run has finished; a bar on a terminal, a line per 5 s otherwise. */
async function follow(
  service: BackfillService,
  exportId: string,
  id: string,
  pollMs: number,
  began: number,
  out: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean },
): Promise<Backfill> {
  const tty = Boolean((out as { isTTY?: boolean }).isTTY);
  let lastLine = 0;
  for (;;) {
    const b = await service.get(exportId, id);
    const line = progressLine(b, Date.now() - began);
    if (tty) out.write(`\r${line}`);
    else if (b.status !== 'Running' || Date.now() - lastLine >= 5000 || lastLine === 0) {
      out.write(`${line}\n`);
      lastLine = Date.now();
    }
    if (b.status !== 'Running') {
      if (tty) out.write('\n');
      return b;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).then((code) => process.exit(code));
}

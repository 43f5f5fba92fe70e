import {
  ConfigError,
  NotFoundError,
  UnreachableError,
  ValidationError,
  createLogger,
  errorMessage,
  loadConfig,
} from '@bx/core';
import { BackfillService, type Backfill } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { progressLine, summaryTable } from './progress';
import { npmTookOptions, parseOptions } from './parse-options';
import { intOption, optionMessage, parseRange } from './cli-range';

const USAGE = `usage: npm run enqueue-backfill -- --export-id <id> --start <ISO 8601> --end <ISO 8601> [--dry-run] [--confirm] [--force] [--wait]

Exports every interval of the export in [start, end), behind scheduled runs; runs
start in order, a window ahead of the workers (a running scheduler starts the rest).
Intervals already exported are skipped unless --force; those queued or running are skipped.
  --dry-run  only say how many intervals, how many already exported; create nothing
  --confirm  needed above 1,000 intervals
  --wait     follow the backfill with a progress bar; exit 1 if any run failed;
             Ctrl-C stops following (exit 130), the backfill goes on
  --poll-ms  with --wait, how often to look, in ms (default 1000)
Exit codes: 0 created (with --wait: every run finished, none failed), 1 the
backfill could not be created (export unknown, Redis unreachable) or runs
failed, 2 bad arguments, 130 Ctrl-C while following.
Environment: REDIS_URL (or REDIS_CLUSTER_NODES), QUEUE_PREFIX (as the services).`;

/** The options npm would keep for itself without `--`. */
const OPTION_NAMES = ['export-id', 'start', 'end', 'force', 'dry-run', 'confirm', 'wait', 'poll-ms'] as const;

/** Exit codes: 0 done, 1 runs failed or the backfill could not be created, 2 bad arguments, 130 Ctrl-C while following. */
export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out = process.stdout,
  err = process.stderr,
): Promise<number> {
  let args;
  try {
    args = parseOptions(argv, {
      'export-id': { type: 'string' },
      start: { type: 'string' },
      end: { type: 'string' },
      force: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      confirm: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      'poll-ms': { type: 'string', default: '1000' },
      help: { type: 'boolean', short: 'h', default: false },
    });
  } catch (e) {
    err.write(
      `enqueue-backfill: ${errorMessage(e)}${npmTookOptions(env, 'enqueue-backfill', OPTION_NAMES)}\n${USAGE}\n`,
    );
    return 2;
  }
  if (args.help) {
    out.write(USAGE + '\n');
    return 0;
  }
  const missing = (['export-id', 'start', 'end'] as const).filter((name) => !args[name]);
  if (missing.length) {
    const hint = npmTookOptions(env, 'enqueue-backfill', OPTION_NAMES);
    err.write(`enqueue-backfill: missing ${missing.map((m) => `--${m}`).join(', ')}${hint}\n${USAGE}\n`);
    return 2;
  }
  // Bad dates are exit 2 before anything connects (a Redis away would make them exit 1).
  const range = parseRange(args.start!, args.end!);
  const pollMs = intOption('--poll-ms', args['poll-ms'], 10, 60_000);
  if ('error' in range || typeof pollMs !== 'number') {
    err.write(`enqueue-backfill: ${'error' in range ? range.error : (pollMs as { error: string }).error}\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(env);
  } catch (e) {
    err.write(`enqueue-backfill: ${e instanceof ConfigError ? e.message : errorMessage(e)}\n`);
    return 2;
  }
  const store = Store.connect({ url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES }, config.QUEUE_PREFIX);
  const queue = BullMqRunQueue.fromConfig(config);
  const service = new BackfillService(
    store,
    queue,
    createLogger({ service: 'enqueue-backfill' }, 'warn', (line) => err.write(line + '\n')),
    undefined,
    { runWindow: config.SCHEDULER_RUN_WINDOW },
  );
  const began = Date.now();
  try {
    await store.assertReachable();
    const exportId = args['export-id']!;
    const created = await service.create(exportId, {
      start_at: args.start,
      end_at: args.end,
      force: args.force,
      dry_run: args['dry-run'],
      confirm: args.confirm,
    });
    if ('plan' in created) {
      const p = created.plan;
      out.write(
        summaryTable([
          ['intervals', p.total_runs],
          ['to export', p.to_export],
          ['already exported', p.already_exported],
          ['queued or running', p.in_progress],
        ]) + '\n',
      );
      return 0;
    }
    const b = created.backfill;
    out.write(`backfill ${b.id}: ${b.total_runs} intervals from ${b.start_at} to ${b.end_at}\n`);
    let final: Backfill = b;
    // With or without --wait: a backfill of a paused export is stored and does nothing until it is unpaused.
    if ((await store.exports.get(exportId))?.paused)
      out.write(`export ${exportId} is paused: its runs wait until it is unpaused (POST .../unpause)\n`);
    if (args.wait) {
      const followed = await follow(service, exportId, b.id, pollMs, began, out);
      if (followed === 'interrupted') {
        // The backfill is stored and goes on without this command: say so, and how to stop it.
        err.write(
          `\nenqueue-backfill: stopped following; backfill ${b.id} goes on (progress: GET /api/exports/${exportId}/backfills/${b.id}; ` +
            `stop it: POST /api/exports/${exportId}/backfills/${b.id}/cancel)\n`,
        );
        return 130;
      }
      final = followed;
    }
    out.write(
      summaryTable([
        ['backfill', final.id],
        ['status', final.status],
        ['intervals', final.total_runs],
        ['finished', final.finished_runs],
        ['failed', final.failed_runs],
        ['cancelled', final.cancelled_runs],
        ['skipped', final.skipped_runs],
        ['rows exported', final.records_completed],
        ['elapsed', `${((Date.now() - began) / 1000).toFixed(1)} s`],
      ]) + '\n',
    );
    return final.failed_runs > 0 ? 1 : 0;
  } catch (e) {
    const bad = e instanceof ValidationError;
    const known = bad || e instanceof NotFoundError || e instanceof UnreachableError;
    const message = bad ? optionMessage(e) : known ? e.message : `failed: ${errorMessage(e)}`;
    err.write(`enqueue-backfill: ${message}\n`);
    if (e instanceof ValidationError && e.code === 'confirmation_required')
      err.write('enqueue-backfill: see the plan with --dry-run, then run it with --confirm\n');
    return bad ? 2 : 1;
  } finally {
    await queue.close();
    await store.close();
  }
}

/**
 * Polls until every run has finished; a bar on a terminal, a line per 5 s
 * otherwise. Ctrl-C (SIGINT) ends the polling, not the backfill: 'interrupted'.
 */
async function follow(
  service: BackfillService,
  exportId: string,
  id: string,
  pollMs: number,
  began: number,
  out: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean },
): Promise<Backfill | 'interrupted'> {
  const tty = Boolean((out as { isTTY?: boolean }).isTTY);
  const interrupted = new AbortController();
  const onSigint = () => interrupted.abort();
  process.once('SIGINT', onSigint);
  let lastLine = 0;
  try {
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
      await sleep(pollMs, interrupted.signal);
      if (interrupted.signal.aborted) return 'interrupted';
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).then((code) => process.exit(code));
}

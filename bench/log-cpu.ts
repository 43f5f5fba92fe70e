/**
 * `npx tsx bench/log-cpu.ts [--runs 20000] [--rounds 4] | cat > /dev/null`: the CPU a worker's
 * logging costs per tiny run, as the worker logs one (a child logger with the run's log as its
 * sink, "run started" and "run completed" with their fields, stdout to a pipe), 16 runs per
 * event-loop turn. Stdout must be a pipe to something that reads it; the figures go to stderr.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '@bx/core';
import { DESTINATION_SECRET_FIELDS } from '@bx/destinations';

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '4' } },
});

async function main(): Promise<void> {
  const logger = createLogger({ service: 'worker', pid: process.pid }, 'info', {
    secretFields: DESTINATION_SECRET_FIELDS,
  });
  const id = '0b8f6f1e-2c3a-4c1e-9d7e-1234567890ab';
  const run = () => {
    const kept: string[] = [];
    const log = logger.child({ export_id: id, run_id: `${id}-20261206T010000Z`, attempt: 1 }, (l) => kept.push(l));
    log.info('run started', {
      data_interval_start: '2026-12-06T01:00:00.000Z',
      data_interval_end: '2026-12-06T01:05:00.000Z',
      destination: 'S3',
    });
    log.info('run completed', { records: 2, bytes: 333, files: 1, checksum: 'abcdef0123456789', ms: 12 });
  };
  const runs = Number(args.runs);
  for (let round = 1; round <= Number(args.rounds); round++) {
    const start = process.cpuUsage();
    for (let i = 0; i < runs; i++) {
      run();
      if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
    }
    // The last lines' writes finish within this pause.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const used = process.cpuUsage(start);
    process.stderr.write(`round ${round}: ${((used.user + used.system) / runs).toFixed(1)} µs of CPU per run\n`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

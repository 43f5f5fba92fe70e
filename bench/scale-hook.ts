import { readResults, saveResults } from './results-file';
import { runScale } from './scale';

/** bench/run.ts's options for `--scale` (docs/scaling.md). */
export const SCALE_OPTIONS = {
  scale: { type: 'boolean', default: false },
  /** Exports of the scale simulation; `--quick` makes it 2,000. */
  exports: { type: 'string' },
  /** Seconds each worker count is measured. */
  'scale-window': { type: 'string' },
  /** WORKER_CONCURRENCY of each worker process. */
  'scale-concurrency': { type: 'string', default: '16' },
  /** Longest the simulation may take to drain its burst, in seconds (600; --quick 120). */
  'scale-simulate-s': { type: 'string' },
  /** Runs each newly started worker process does before a window is measured (1,500; --quick 100). */
  'scale-warmup-runs': { type: 'string' },
  /** Longest a window's warm-up may take, in seconds (180; --quick 10). */
  'scale-warmup-s': { type: 'string' },
  /** Worker process counts measured, comma-separated (1,2,4). */
  'scale-workers': { type: 'string' },
  /** Only the footprint, the tick and runs/s per worker count: for iterating on per-run cost. */
  'scale-runs-only': { type: 'boolean', default: false },
} as const;

/**
 * `npm run bench -- --scale`: runs bench/scale.ts and stores its figures
 * under `scale` in bench/results.json, keeping the other figures there.
 */
export async function scaleBench(
  args: {
    quick?: boolean;
    exports?: string;
    'scale-window'?: string;
    'scale-concurrency'?: string;
    'scale-simulate-s'?: string;
    'scale-workers'?: string;
    'scale-runs-only'?: boolean;
    'scale-warmup-runs'?: string;
    'scale-warmup-s'?: string;
  },
  clickhouseUrl: string,
): Promise<void> {
  const exports = Number(args.exports ?? (args.quick ? 2000 : 100_000));
  if (!Number.isInteger(exports) || exports < 100) throw new Error('--exports must be an integer ≥ 100');
  const workerCounts = (args['scale-workers'] ?? '1,2,4').split(',').map(Number);
  if (workerCounts.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error('--scale-workers: counts ≥ 1, e.g. 1,2,4');
  const save = (scale: Record<string, unknown>) => saveResults({ ...readResults(), scale });
  const scale = await runScale({
    exports,
    windowSeconds: Number(args['scale-window'] ?? (args.quick ? 5 : 60)),
    concurrency: Number(args['scale-concurrency'] ?? 16),
    simulateTimeoutSeconds: Number(args['scale-simulate-s'] ?? (args.quick ? 120 : 600)),
    workerCounts,
    warmupRunsPerProcess: Number(args['scale-warmup-runs'] ?? (args.quick ? 100 : 1500)),
    warmupMaxSeconds: Number(args['scale-warmup-s'] ?? (args.quick ? 10 : 180)),
    runsOnly: args['scale-runs-only'],
    clickhouseUrl,
    say: (msg) => process.stderr.write(`[bench] ${msg}\n`),
    save,
  });
  save(scale);
  process.stdout.write(JSON.stringify(scale, null, 2) + '\n');
}

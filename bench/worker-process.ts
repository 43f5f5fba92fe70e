import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times. */
const CLOCK_TICKS_PER_SECOND = 100;

/** A worker process as production runs it (`node services/worker/dist/main.js`). */
export class WorkerProcess {
  private readonly child: ChildProcess;
  private readonly ready: Promise<void>;
  private readonly exited: Promise<void>;

  constructor(env: Record<string, string>) {
    // BX_WORKER_NODE_ARGS: node flags for the worker only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
    // (NODE_OPTIONS refuses --cpu-prof).
    const nodeArgs = process.env.BX_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    this.child = spawn(
      process.execPath,
      [...nodeArgs, join(__dirname, '..', 'services', 'worker', 'dist', 'main.js')],
      {
        env: {
          ...process.env,
          NODE_NO_WARNINGS: '1',
          LOG_LEVEL: 'info',
          // The bench stores its exports itself, in clear; its servers are on loopback.
          ALLOW_PLAINTEXT_SECRETS: 'true',
          ALLOWED_PRIVATE_DESTINATIONS: '127.0.0.0/8,::1,localhost',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out: string | null = '';
    this.ready = new Promise((resolve, reject) => {
      this.child.stdout!.on('data', (d: Buffer) => {
        // Kept only until the worker has started: a long run logs hundreds of MB.
        if (out === null) return;
        out += d.toString();
        if (out.includes('"worker started"')) {
          out = null;
          resolve();
        }
      });
      this.child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${out}`)));
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  async started(): Promise<void> {
    await this.ready;
  }

  /** Peak resident set size of the process so far, in MB (VmHWM). */
  peakRssMb(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  }

  /** Minor page faults of the process so far (memory the kernel mapped on first touch). */
  minorFaults(): number {
    const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
  }

  /** CPU time the process has used so far (user + system), in seconds. */
  cpuSeconds(): number {
    return statCpuSeconds(readFileSync(`/proc/${this.child.pid}/stat`, 'utf8'));
  }

  /**
   * CPU time (user + system, seconds) of each of the process's threads so far, by thread id: the
   * main thread's id is the process's (`pid`). Node names its threads all alike, so a thread is
   * told by its share (the zstd thread is the busiest after the main one).
   */
  threadCpuSeconds(): Map<number, number> {
    const threads = new Map<number, number>();
    for (const tid of readdirSync(`/proc/${this.child.pid}/task`)) {
      try {
        threads.set(Number(tid), statCpuSeconds(readFileSync(`/proc/${this.child.pid}/task/${tid}/stat`, 'utf8')));
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    return threads;
  }

  get pid(): number {
    return this.child.pid!;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** User + system seconds of a /proc/<pid>/stat (or task stat) line: fields 14 and 15, counted after the command name. */
function statCpuSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A worker process as production runs it (`node services/worker/dist/main.js`). */
export class WorkerProcess {
  private readonly child: ChildProcess;
  private readonly ready: Promise<void>;
  private readonly exited: Promise<void>;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [join(__dirname, '..', 'services', 'worker', 'dist', 'main.js')], {
      env: { ...process.env, NODE_NO_WARNINGS: '1', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    this.ready = new Promise((resolve, reject) => {
      this.child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"worker started"')) resolve();
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

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.exited;
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TEST_SECURITY_ENV } from './env';

const ROOT = join(__dirname, '..', '..');

/** A service started as in production (`node services/<role>/dist/main.js`), its JSON log lines kept. */
export class ServiceProcess {
  readonly logs: Array<Record<string, unknown>> = [];
  readonly stderr: string[] = [];
  private readonly child: ChildProcess;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;

  constructor(
    readonly role: 'api' | 'scheduler' | 'worker' | 'all-in-one',
    env: Record<string, string>,
    /** Node options before the script (`--require` of a preload, say). */
    nodeArgs: string[] = [],
  ) {
    this.child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'services', role, 'dist', 'main.js')], {
      env: { ...process.env, NODE_NO_WARNINGS: '1', ...TEST_SECURITY_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.logs.push({ msg: line });
        }
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once a log line with `msg` appears. */
  async waitForLog(msg: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.logs.some((l) => l.msg === msg)) {
      if (this.child.exitCode !== null)
        throw new Error(`${this.role} exited (${this.child.exitCode}): ${this.stderr.join('')}`);
      if (Date.now() > deadline)
        throw new Error(`${this.role}: no '${msg}' log within ${timeoutMs} ms; stderr: ${this.stderr.join('')}`);
      await sleep(50);
    }
  }

  /** The port an API started with PORT=0 listens on (from its `api listening` line). */
  get port(): number {
    const line = this.logs.find((l) => l.msg === 'api listening');
    if (!line || typeof line.port !== 'number') throw new Error(`${this.role}: no 'api listening' line with a port`);
    return line.port;
  }

  /** SIGTERM, and the exit code once it has shut down. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }

  async exitCode(): Promise<number | null> {
    return this.exited;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value that is not undefined. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** A port nothing listens on (taken, then closed): a service that is down. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { closedPort, sleep } from './processes';

/**
 * A redis-server of the test's own (a free port, a folder of its own) with
 * the production persistence, `appendonly yes`, writing each command through
 * (`appendfsync always`), so its append-only file can be cut as a crash of
 * the machine leaves it, and the server killed and started again on it.
 */
export class OwnRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'bx-own-redis-'));
  port = 0;
  private child: ChildProcess | null = null;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await closedPort();
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', ''];
    this.child = spawn('redis-server', [...args, '--appendonly', 'yes', '--appendfsync', 'always'], {
      stdio: 'ignore',
    });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      for (const until = Date.now() + 10_000; ; await sleep(50)) {
        if (Date.now() > until) throw new Error(`redis-server on ${this.port} did not start`);
        if (
          await probe.connect().then(
            () => probe.ping().then(() => true),
            () => false,
          )
        )
          return;
        probe.disconnect();
      }
    } finally {
      probe.disconnect();
    }
  }

  /** SIGKILL: nothing more reaches the file. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** The file Redis appends to now (the manifest's `incr` entry). */
  incrFile(): string {
    const manifest = readFileSync(join(this.dir, 'appendonlydir', 'appendonly.aof.manifest'), 'utf8');
    const name = /file (\S+) seq \d+ type i/.exec(manifest)?.[1];
    if (!name) throw new Error(`no incr file in the AOF manifest: ${manifest}`);
    return join(this.dir, 'appendonlydir', name);
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

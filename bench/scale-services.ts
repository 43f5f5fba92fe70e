import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

const SCRIPT = join(__dirname, '..', 'scripts', 'local-services.sh');
/** Linux's USER_HZ, the unit of /proc/<pid>/stat times. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * A Redis and an S3 server of the scale benchmark's own, on free ports in a
 * temporary folder (scripts/local-services.sh): its memory, command counts
 * and CPU are the benchmark's alone, and it may be flushed between phases.
 * ClickHouse is the shared one (one more would not fit on the machine).
 */
export class ScaleServices {
  readonly dir = mkdtempSync(join(tmpdir(), 'bx-scale-'));
  /**
   * The S3 server's buckets, on tmpfs where there is one (BENCH_S3_DIR
   * elsewhere), as bench/s3-server.ts keeps the main benchmark's: S3's
   * disks are not the exporting machine's. On ext4 the server's system CPU
   * per tiny run was 0.4-0.8 ms at load 10-15 and 2.1-2.2 ms at load 12
   * (file creation and journaling; bench/scale-probe.ts, December 6). A run
   * holds about 12 KB there (3 files of a page each) until the end.
   */
  readonly s3Dir = mkdtempSync(
    join(process.env.BENCH_S3_DIR || (existsSync('/dev/shm') ? '/dev/shm' : tmpdir()), 'bx-scale-s3-'),
  );
  redisPort = 0;
  s3Port = 0;

  async start(): Promise<this> {
    this.redisPort = await freePort();
    this.s3Port = await freePort();
    this.run('start', 'redis', 's3');
    return this;
  }

  get redisUrl(): string {
    return `redis://127.0.0.1:${this.redisPort}`;
  }

  get s3Url(): string {
    return `http://127.0.0.1:${this.s3Port}`;
  }

  /** Process id of a service it started (`redis` or `s3`). */
  pid(name: 'redis' | 's3'): number {
    return Number(readFileSync(join(this.dir, `${name}.pid`), 'utf8'));
  }

  stop(): void {
    try {
      this.run('stop', 'redis', 's3');
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
      rmSync(this.s3Dir, { recursive: true, force: true });
    }
  }

  private run(command: string, ...services: string[]): void {
    execFileSync('bash', [SCRIPT, command, ...services], {
      env: {
        ...process.env,
        BX_SERVICES_DIR: this.dir,
        REDIS_PORT: String(this.redisPort),
        S3_PORT: String(this.s3Port),
        S3_DIR: this.s3Dir,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
}

/** A port nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** What Redis reports at one moment: commands so far, main-thread CPU, memory, per-command calls. */
export interface RedisSample {
  at: number;
  /** Commands clients sent (a script call counts once). */
  commands: number;
  /** CPU seconds of Redis's main thread (where every command runs). */
  cpu: number;
  usedMemory: number;
  /** Calls per command, commands run inside scripts included. */
  calls: Record<string, number>;
}

export async function sampleRedis(redis: Redis): Promise<RedisSample> {
  const text = (await redis.info('all')) as string;
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? NaN);
  const calls: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2]);
  return {
    at: Date.now(),
    commands: field('total_commands_processed'),
    cpu: field('used_cpu_user_main_thread') + field('used_cpu_sys_main_thread'),
    usedMemory: field('used_memory'),
    calls,
  };
}

/** Calls per command between two samples, largest first. */
export function callsBetween(a: RedisSample, b: RedisSample): Array<[string, number]> {
  return Object.entries(b.calls)
    .map(([name, n]): [string, number] => [name, n - (a.calls[name] ?? 0)])
    .filter(([, n]) => n > 0)
    .sort((x, y) => y[1] - x[1]);
}

/** CPU seconds (user + system) a process has used so far; 0 when it is gone. */
export function processCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/**
 * The pid of the ClickHouse server listening on `url`'s port (read only: it
 * may be the shared one), or of the oldest clickhouse-server found by name.
 */
export function clickhousePid(url?: string): number | null {
  const port = url ? new URL(url).port || '80' : null;
  try {
    if (port) {
      const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
      const pid = Number(/pid=(\d+)/.exec(out)?.[1]);
      if (pid) return pid;
    }
  } catch {
    // No ss here: by name below.
  }
  try {
    const out = execFileSync('pgrep', ['-o', '-f', 'clickhouse-server'], { encoding: 'utf8' });
    return Number(out.trim().split('\n')[0]) || null;
  } catch {
    return null;
  }
}

/** The whole machine's busy CPU seconds so far (all cores), and its core count: how loaded it was. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const idle = line[3]! + line[4]!;
  const total = line.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLOCK_TICKS_PER_SECOND, total: total / CLOCK_TICKS_PER_SECOND };
}

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An S3 server of the benchmark's own: its CPU is on the benchmark's 2 cores, and counted apart. */
export interface BenchS3Server {
  endpoint: string;
  /** The folder it stores buckets in (removed by close). */
  directory: string;
  /** The server's CPU seconds so far (all its threads). */
  cpuSeconds(): number;
  /** The same, split: in the process itself (user) and in the kernel for it (system). */
  cpuTimes(): { user: number; system: number };
  close(): Promise<void>;
}

/**
 * Where the server keeps its objects: BENCH_S3_DIR, else tmpfs (/dev/shm)
 * where there is one. S3's disks are not on the exporting machine; a file
 * system's work for them here is not the product's. On the temporary folder
 * (ext4) the server's CPU for an 80 MiB multipart upload was 0.51-0.78 s,
 * on tmpfs 0.25-0.50 s (six rounds side by side, load 11), and the kernel's
 * writeback of the bytes ran on the same cores besides. A case's
 * repetitions write the same key, so the folder holds one object per case:
 * about 1 GB at the default 2M rows, several GB at 10M
 * (BENCH_S3_DIR=/tmp for those runs where memory is short).
 */
function objectsDir(): string {
  return process.env.BENCH_S3_DIR || (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
}

/**
 * Starts `scripts/s3-server.js` (s3rver) on a free loopback port and a
 * folder of its own: the benchmark's exports share no S3 server with other
 * work (the shared one on 4568 serves every test suite on the machine), and
 * what the server spends per export can be read from /proc.
 */
export async function startBenchS3(): Promise<BenchS3Server> {
  const dir = mkdtempSync(join(objectsDir(), 'bx-bench-s3-'));
  const child = spawn(
    process.execPath,
    [
      // BENCH_S3_NODE_ARGS: node flags for the server, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
      ...(process.env.BENCH_S3_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      // BENCH_S3_SCRIPT: another server script (an older copy, for A/B runs).
      process.env.BENCH_S3_SCRIPT || join(__dirname, '..', 'scripts', 's3-server.js'),
      '--port',
      '0',
      '--directory',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`the S3 server exited (${code}) before listening`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cpuTimes = () => {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, in clock ticks (USER_HZ, 100 a second).
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    directory: dir,
    cpuSeconds() {
      const { user, system } = cpuTimes();
      return user + system;
    },
    cpuTimes,
    async close() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

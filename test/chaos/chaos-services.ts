import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../helpers/processes';

const ROOT = join(__dirname, '..', '..');

export type ServiceName = 'redis' | 'clickhouse' | 's3' | 'postgres' | 'redis-cluster';

/**
 * The chaos suite's own Redis, ClickHouse, S3 server and PostgreSQL, which
 * scripts/test-chaos.sh starts on ports of their own in a temporary folder:
 * the suite stops and restarts them, so they must never be the ones other
 * suites (or a developer) use.
 */
export const chaosServices = {
  get ready(): boolean {
    return process.env.BX_CHAOS_SERVICES === '1' && Boolean(process.env.BX_SERVICES_DIR);
  },
  s3Port: Number(process.env.S3_PORT ?? 0),
  /** The suite's own 3-master Redis Cluster (`host:port,...`), started on REDIS_CLUSTER_PORTS. */
  clusterNodes: process.env.CHAOS_REDIS_CLUSTER_NODES ?? '',

  /** SIGKILL of one Redis Cluster node (its append-only file stays); `start('redis-cluster')` brings it back. */
  async killClusterNode(port: number): Promise<void> {
    const pid = Number(readFileSync(join(process.env.BX_SERVICES_DIR!, `redis-cluster-${port}.pid`), 'utf8'));
    process.kill(pid, 'SIGKILL');
    for (;;) {
      try {
        process.kill(pid, 0);
        await sleep(50);
      } catch {
        return;
      }
    }
  },

  /** Sends `signal` to the suite's Redis server: SIGSTOP freezes it (every client's commands hang), SIGCONT resumes it. */
  signalRedis(signal: 'SIGSTOP' | 'SIGCONT'): void {
    if (!this.ready) throw new Error('chaos services are not this suite’s own: run npm run test:chaos');
    process.kill(Number(readFileSync(join(process.env.BX_SERVICES_DIR!, 'redis.pid'), 'utf8')), signal);
  },

  /**
   * Stops the named services (SIGTERM: Redis writes its append-only file, ClickHouse shuts down
   * cleanly; PostgreSQL's fast shutdown ends open sessions with admin_shutdown).
   */
  async stop(...services: ServiceName[]): Promise<void> {
    await localServices('stop', services);
  },

  /** Kills the named services with SIGKILL, as a crash or an OOM kill would: no draining, connections cut. */
  async kill(...services: ServiceName[]): Promise<void> {
    await localServices('kill', services);
  },

  /** Starts the named services on their data; resolves once they answer. */
  async start(...services: ServiceName[]): Promise<void> {
    await localServices('start', services);
  },

  /** Stops the services, waits `downMs`, starts them again; returns how long they were down. */
  async restart(downMs: number, ...services: ServiceName[]): Promise<number> {
    const began = Date.now();
    await this.stop(...services);
    await sleep(downMs);
    await this.start(...services);
    return Date.now() - began;
  },
};

async function localServices(command: 'start' | 'stop' | 'kill', services: ServiceName[]): Promise<void> {
  if (!chaosServices.ready) throw new Error('chaos services are not this suite’s own: run npm run test:chaos');
  const child = spawn('bash', [join(ROOT, 'scripts', 'local-services.sh'), command, ...services], {
    env: process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`local-services.sh ${command} ${services.join(' ')} failed (${code}): ${stderr}`);
}

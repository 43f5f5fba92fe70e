import { expect } from 'chai';
import type { Cluster } from 'ioredis';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApiHarness, type HttpResult } from '../helpers/api-harness';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { eventually } from '../helpers/processes';

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'local-services.sh');

/** Whether nothing listens on `port` of loopback. */
async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Three ports free with their cluster bus ports (port + 10000), all below
 * Linux's ephemeral range (32768 on): a node restarted on a port that an
 * outgoing connection took meanwhile could not listen again.
 */
async function clusterPorts(): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < 3) {
    const port = 20_000 + Math.floor(Math.random() * 2_700);
    if (!ports.includes(port) && (await isFree(port)) && (await isFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

/**
 * A 3-master Redis Cluster of this test's own (scripts/local-services.sh on
 * free ports, in a folder of its own): the test kills one of its nodes,
 * which it must never do to the shared one.
 */
class OwnCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'bx-api-cluster-'));
  ports: number[] = [];

  get nodes(): string[] {
    return this.ports.map((p) => `127.0.0.1:${p}`);
  }

  async start(): Promise<void> {
    if (this.ports.length === 0) this.ports = await clusterPorts();
    await this.script('start');
  }

  async stop(): Promise<void> {
    await this.script('stop');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGKILL of the node on `port` (a process this test started). */
  kill(port: number): void {
    process.kill(Number(readFileSync(join(this.dir, `redis-cluster-${port}.pid`), 'utf8')), 'SIGKILL');
  }

  private async script(command: 'start' | 'stop'): Promise<void> {
    await promisify(execFile)('bash', [SCRIPT, command, 'redis-cluster'], {
      env: { ...process.env, BX_SERVICES_DIR: this.dir, REDIS_CLUSTER_PORTS: this.ports.join(',') },
    });
  }
}

/**
 * Redis Cluster failing over or down (a master killed): ioredis gives up on
 * a command with "Too many Cluster redirections" (MOVED, TRYAGAIN,
 * CLUSTERDOWN or a closed connection each time), which answered 500
 * `internal`. Nothing is wrong with the request: 503 `unavailable` with
 * Retry-After, as a Redis that is away.
 */
describe('the API on a Redis Cluster that loses a master', function () {
  this.timeout(120_000);
  const cluster = new OwnCluster();
  let sut: ApiHarness;
  let exportId: string;

  before(async () => {
    await cluster.start();
    sut = await new ApiHarness({ clusterNodes: cluster.nodes }).start();
    const created = await sut.createExport(
      {
        type: 'S3',
        config: { bucket_name: 'cluster-failover', endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
      },
      'cluster failover',
    );
    expect(created.status, created.text).to.equal(201);
    exportId = created.json.id;
  });
  after(async () => {
    // Whole again (a node is still down if the test failed), so that close() can remove the keys.
    await cluster.start().catch(() => undefined);
    await sut?.close().catch(() => undefined);
    await cluster.stop();
  });

  it('answers 503 unavailable with Retry-After while the master of its keys is down, then 200 again', async () => {
    const redis = sut.store.redis as Cluster;
    const slot = Number(await redis.cluster('KEYSLOT', `${sut.prefix}:x`));
    const ranges = await redis.cluster('SLOTS');
    const owner = ranges.find(([from, to]) => from <= slot && slot <= to)![2]![1] as number;
    cluster.kill(owner);

    const answers: Array<HttpResult & { what: string }> = [];
    const requests: Array<[string, string, unknown?]> = [
      ['GET', `/api/exports/${exportId}`],
      ['GET', `/api/exports/${exportId}/runs`],
      ['POST', `/api/exports/${exportId}/unpause`, {}],
      ['GET', '/metrics'],
      ['GET', '/admin/queues/api/queues'],
    ];
    const get = async () => {
      for (const [method, path, body] of requests) {
        const res = await sut.call(method, path, { body });
        answers.push({ ...res, what: `${method} ${path}` });
      }
    };
    // Until the other masters mark it failed (cluster-node-timeout: 5 s) and answer CLUSTERDOWN.
    const other = cluster.ports.find((p) => p !== owner)!;
    await eventually(
      async () => {
        await get();
        const info = await promisify(execFile)('redis-cli', ['-p', String(other), 'cluster', 'info']);
        return info.stdout.includes('cluster_state:fail') ? true : undefined;
      },
      60_000,
      'the cluster marking the killed master failed',
    );
    for (let i = 0; i < 3; i++) await get();

    const statuses = answers.map((a) => `${a.what}: ${a.status} ${a.json?.error?.message ?? a.text.slice(0, 200)}`);
    for (const res of answers) {
      expect(res.status, statuses.join('\n')).to.equal(503);
      expect(res.json?.error?.code, statuses.join('\n')).to.equal('unavailable');
      expect(res.headers.get('retry-after')).to.equal('5');
    }

    await cluster.start();
    const back = await eventually(
      async () => {
        const res = await sut.call('GET', `/api/exports/${exportId}`);
        return res.status === 200 ? res : undefined;
      },
      60_000,
      'the API answering once the node is back',
    );
    expect(back.json.id).to.equal(exportId);
  });
});

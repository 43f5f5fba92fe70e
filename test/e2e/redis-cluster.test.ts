import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { isoSeconds, type Run } from '@bx/core';
import { Store } from '@bx/store';
import { Cluster } from 'ioredis';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { chTime, expectedRecord, makeEvent, type SourceEvent } from '../helpers/events';
import { HttpFaultProxy } from '../helpers/http-fault-proxy';
import { ServiceProcess, eventually } from '../helpers/processes';
import { deleteKeysUnder, keysUnder } from '../helpers/redis-keys';
import { createBucket, readJsonLines, testS3Client } from '../helpers/s3';

const HOUR = 3_600_000;
const TOKEN = 'cluster-token-0123456789abcdef';
const TEAM = 7;

/** 25 events per hour of the team from `base` on, and one of another team. */
function seed(base: number, hours: number): SourceEvent[] {
  const events: SourceEvent[] = [];
  for (let h = 0; h < hours; h++) {
    const start = base + h * HOUR;
    for (let i = 0; i < 25; i++)
      events.push(makeEvent({ team_id: TEAM, inserted_at: chTime(new Date(start + i * 143_000).toISOString()) }));
    events.push(makeEvent({ team_id: TEAM + 1, inserted_at: chTime(new Date(start).toISOString()) }));
  }
  return events;
}

/**
 * The product on a 3-master Redis Cluster (REDIS_CLUSTER_NODES), as real
 * processes: API, scheduler and workers. Scheduled runs, a backfill, a
 * manual retry, a cancel (pub/sub) and a worker SIGKILL, each checked
 * against the rows in S3; every key lives under the deployment's hash tag.
 */
describe('end to end on a Redis Cluster: scheduled runs, backfill, retry, cancel, worker SIGKILL', function () {
  this.timeout(180_000);
  const nodes = testEnv.TEST_REDIS_CLUSTER_NODES;
  const scheduledHours = 3;
  const backfillHours = 3;
  // Backfilled hours, then scheduled hours, ending an hour before the current one.
  const base = Math.floor(Date.now() / HOUR) * HOUR - (scheduledHours + 1) * HOUR;
  const backfillBase = base - backfillHours * HOUR;
  const prefix = `{${uniqueName('bxk')}}`;
  let ch: TestClickHouse;
  let s3: S3Client;
  let proxy: HttpFaultProxy;
  let bucket: string;
  let store: Store;
  let events: SourceEvent[];
  const services: ServiceProcess[] = [];
  let env: Record<string, string>;
  let api = '';

  before(async () => {
    const probe = new Cluster(
      nodes.map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) })),
      {
        clusterRetryStrategy: () => null,
      },
    );
    try {
      await probe.cluster('INFO');
    } catch {
      throw new Error(
        `no Redis Cluster at ${nodes.join(',')}: start one with 'bash scripts/local-services.sh start redis-cluster' ` +
          `(npm test does this) or point TEST_REDIS_CLUSTER_NODES at one`,
      );
    } finally {
      probe.disconnect();
    }
    ch = await new TestClickHouse().setup();
    events = seed(backfillBase, backfillHours + scheduledHours);
    await ch.insert(events);
    s3 = testS3Client();
    bucket = await createBucket(s3);
    proxy = await new HttpFaultProxy(Number(new URL(testEnv.S3_ENDPOINT_URL).port)).start();
    store = Store.connect({ url: testEnv.REDIS_URL, clusterNodes: nodes }, prefix);
    env = {
      // Not used for the connection: only lends credentials (none here).
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_CLUSTER_NODES: nodes.join(','),
      QUEUE_PREFIX: prefix,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: ch.database,
      ADMIN_API_TOKEN: TOKEN,
      ALLOWED_PRIVATE_DESTINATIONS: '127.0.0.1',
      ALLOW_PLAINTEXT_SECRETS: 'true',
      SCHEDULER_TICK_MS: '200',
      SCHEDULER_SETTLE_SECONDS: '0',
      WORKER_LOCK_DURATION_MS: '3000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      RUN_BACKOFF_MS: '200',
      SHUTDOWN_GRACE_MS: '0',
      LOG_LEVEL: 'info',
    };
  });
  after(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await proxy?.stop();
    if (store) {
      await deleteKeysUnder(store.redis, prefix);
      await store.close();
    }
    await ch?.drop();
  });

  async function start(role: ServiceProcess['role'], ready = `${role} started`): Promise<ServiceProcess> {
    const service = new ServiceProcess(role, { ...env, ...(role === 'api' ? { PORT: '0' } : {}) });
    services.push(service);
    await service.waitForLog(ready);
    return service;
  }

  async function call<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    const res = await fetch(api + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
  }

  async function runs(exportId: string): Promise<Run[]> {
    return (await call<{ results: Run[] }>('GET', `/api/exports/${exportId}/runs?limit=100`)).json.results;
  }

  async function run(exportId: string, runId: string): Promise<Run> {
    return (await call<Run>('GET', `/api/exports/${exportId}/runs/${runId}`)).json;
  }

  /** Retries a finished run; resolves with the worker that starts it. */
  async function retryAndWaitForStart(exportId: string, runId: string, workers: ServiceProcess[]) {
    const starts = (w: ServiceProcess) => w.logs.filter((l) => l.msg === 'run started' && l.run_id === runId).length;
    const before = new Map(workers.map((w) => [w, starts(w)]));
    expect((await call('POST', `/api/exports/${exportId}/runs/${runId}/retry`)).status).to.equal(202);
    return eventually(
      async () => workers.find((w) => starts(w) > before.get(w)!),
      30_000,
      `run ${runId} to start again`,
    );
  }

  /** The interval's object holds exactly the team's source rows of that hour. */
  async function expectExported(r: Run): Promise<void> {
    const start = Date.parse(r.data_interval_start);
    const end = start + HOUR;
    const key = `cluster/${isoSeconds(start)}-${isoSeconds(end)}.jsonl`;
    const inHour = (e: SourceEvent) => {
      const at = Date.parse(e.inserted_at!.replace(' ', 'T') + 'Z');
      return e.team_id === TEAM && at >= start && at < end;
    };
    const expected = events.filter(inHour).map(expectedRecord);
    const byUuid = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      String(a.uuid).localeCompare(String(b.uuid));
    expect((await readJsonLines(s3, bucket, key)).sort(byUuid)).to.deep.equal(expected.sort(byUuid));
    expect(r).to.deep.include({ status: 'Completed', records_completed: expected.length, files: [key] });
  }

  it('exports every interval exactly, with every key of the deployment in its hash tag’s slot', async () => {
    const apiProcess = await start('api', 'api listening');
    api = `http://127.0.0.1:${apiProcess.logs.find((l) => l.msg === 'api listening')!.port as number}`;
    const workers = [await start('worker'), await start('worker')];
    await start('scheduler');

    // Scheduled runs: a start_at in the past catches up on its hours.
    const created = await call<{ id: string }>('POST', '/api/exports', {
      name: 'on a cluster',
      team_id: TEAM,
      interval: 'hour',
      start_at: new Date(base).toISOString(),
      end_at: new Date(base + scheduledHours * HOUR).toISOString(),
      destination: {
        type: 'S3',
        config: {
          bucket_name: bucket,
          endpoint_url: proxy.url,
          prefix: 'cluster',
          compression: null,
          ...S3_CREDENTIALS,
        },
      },
    });
    expect(created.status).to.equal(201);
    const exportId = created.json.id;
    const scheduled = await eventually(
      async () => {
        const all = await runs(exportId);
        return all.length === scheduledHours && all.every((r) => r.status === 'Completed') ? all : undefined;
      },
      60_000,
      'the scheduled runs',
    );
    for (const r of scheduled) await expectExported(r);

    // A backfill of the hours before start_at.
    const backfill = await call<{ id: string; total_runs: number }>('POST', `/api/exports/${exportId}/backfills`, {
      start_at: new Date(backfillBase).toISOString(),
      end_at: new Date(base).toISOString(),
    });
    expect(backfill.status).to.equal(201);
    expect(backfill.json.total_runs).to.equal(backfillHours);
    await eventually(
      async () => {
        const b = await call<{ status: string }>('GET', `/api/exports/${exportId}/backfills/${backfill.json.id}`);
        return b.json.status === 'Completed' ? true : undefined;
      },
      60_000,
      'the backfill',
    );
    const all = await runs(exportId);
    expect(all).to.have.length(scheduledHours + backfillHours);
    for (const r of all) await expectExported(r);

    // A manual retry: a new attempt of the same run, the same object written again.
    const retried = all[0]!;
    expect((await call('POST', `/api/exports/${exportId}/runs/${retried.id}/retry`)).status).to.equal(202);
    await eventually(
      async () => {
        const r = await run(exportId, retried.id);
        return r.status === 'Completed' && r.attempts === 2 ? r : undefined;
      },
      30_000,
      'the retried run',
    ).then(expectExported);

    // Slow S3 from here on: runs stay in flight long enough to be cancelled and killed.
    void proxy.inject({ kind: 'delay', minMs: 1500, maxMs: 2000 }, 120_000);

    // A cancel reaches the worker holding the run through pub/sub.
    const cancelled = all[1]!;
    const holder = await retryAndWaitForStart(exportId, cancelled.id, workers);
    expect((await call('POST', `/api/exports/${exportId}/runs/${cancelled.id}/cancel`)).status).to.equal(200);
    await holder.waitForLog('run cancelled on this worker', 30_000);
    expect((await run(exportId, cancelled.id)).status).to.equal('Cancelled');

    // A worker SIGKILLed mid-run: another takes the run over once its lock expires.
    const killedRun = all[2]!;
    const victim = await retryAndWaitForStart(exportId, killedRun.id, workers);
    await victim.stop('SIGKILL');
    workers.splice(workers.indexOf(victim), 1);
    workers.push(await start('worker'));
    proxy.clear();
    const takenOver = await eventually(
      async () => {
        const r = await run(exportId, killedRun.id);
        return r.status === 'Completed' && r.attempts >= 3 ? r : undefined;
      },
      60_000,
      'the killed run to be taken over',
    );
    await expectExported(takenOver);
    // The worker logs it after recording it: on a loaded machine the line may come a little after the status.
    await eventually(
      async () =>
        workers.some((w) => w.logs.some((l) => l.msg === 'run completed' && l.run_id === killedRun.id)) || undefined,
      30_000,
      'a live worker to log the taken-over run completed',
    );

    // Every key of the deployment carries its hash tag, so all of them sit in one slot of one node.
    const keys = await keysUnder(store.redis, prefix);
    expect(keys.length).to.be.greaterThan(20);
    const slots = new Set(await Promise.all(keys.map((k) => store.redis.cluster('KEYSLOT', k))));
    expect([...slots]).to.have.length(1);
    for (const s of services) expect(s.stderr.join('')).to.not.match(/CROSSSLOT|MOVED|Unhandled/);

    // Reads that span the deployment (metrics, health, Bull Board's counts, a run's logs) work too.
    const metrics = await fetch(`${api}/metrics`);
    expect(metrics.status).to.equal(200);
    expect(await metrics.text()).to.match(/status="Completed"\} [1-9]/);
    expect(((await (await fetch(`${api}/healthz`)).json()) as { redis: string }).redis).to.equal('ok');
    const logs = await call<{ results: unknown[] }>('GET', `/api/exports/${exportId}/runs/${killedRun.id}/logs`);
    expect(logs.json.results.length).to.be.greaterThan(0);

    // Deleting the export removes its runs in the background (the scheduler's janitor).
    expect((await call('DELETE', `/api/exports/${exportId}`)).status).to.equal(204);
    await eventually(
      async () => ((await store.runs.get(all[0]!.id)) === null ? true : undefined),
      30_000,
      'the deleted export’s runs to go',
    );
  });
});

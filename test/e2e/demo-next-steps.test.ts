import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Run } from '@bx/core';
import { Store } from '@bx/store';
import { createClient } from '@clickhouse/client';
import { Client } from 'pg';
import { testEnv, uniqueName } from '../helpers/env';
import { adminConfig } from '../helpers/postgres';
import { eventually } from '../helpers/processes';
import { createBucket, listKeys, testS3Client } from '../helpers/s3';

const ROOT = join(__dirname, '..', '..');
const LOG = join(ROOT, 'batch-exports.log');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs `file args` in its own process group; its output and exit code. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(file, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, out, err })),
  );
  return { pid: child.pid!, done };
}

/** Rows per hour of `inserted_at` for team 1, as `hour → count` text, from ClickHouse or PostgreSQL. */
async function hourlyCounts(query: () => Promise<Array<{ hour: string; n: string | number }>>): Promise<string[]> {
  return (await query()).map((r) => `${r.hour} ${Number(r.n)}`).sort();
}

/**
 * `npm run demo` exports the sample events to S3 and to PostgreSQL; its
 * rows in PostgreSQL are counted here per hour against the source.
 * Its last words are commands to paste. Here they are pasted as
 * printed (bash, in the repository): npm start on the demo's data, then an
 * export to the local S3 server, whose runs must complete with objects.
 */
describe('the demo ends with next steps that work when pasted', function () {
  this.timeout(300_000);
  const prefix = uniqueName('bxdemo');
  const database = uniqueName('bx_demo').replace(/-/g, '_');
  const pgTable = uniqueName('bx_demo').replace(/-/g, '_');
  const pg = new Client(adminConfig());
  let bucket: string;
  let group: number | undefined;
  let savedLog: string | null = null;

  before(async () => {
    bucket = await createBucket(testS3Client());
    if (existsSync(LOG)) savedLog = readFileSync(LOG, 'utf8');
    await pg.connect();
  });
  after(async () => {
    if (group) {
      // npm start, as the printed `kill %1` would; wait until it has finished its last upload.
      const alive = () => {
        try {
          process.kill(-group!, 0);
          return true;
        } catch {
          return false;
        }
      };
      if (alive()) process.kill(-group, 'SIGTERM');
      await eventually(async () => (alive() ? undefined : true), 60_000, 'npm start to stop');
    }
    const store = Store.connect(testEnv.REDIS_URL, prefix);
    const keys = await store.redis.keys(`${prefix}*`);
    if (keys.length) await store.redis.del(...keys);
    await store.close();
    const ch = createClient({ url: testEnv.CLICKHOUSE_URL });
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await ch.close();
    await pg.query(`DROP TABLE IF EXISTS public."${pgTable}"`);
    await pg.end();
    if (savedLog !== null) writeFileSync(LOG, savedLog);
    else rmSync(LOG, { force: true });
  });

  it('exports to PostgreSQL too; prints the token, npm start and a curl to S3; pasted, they export', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      S3_ENDPOINT_URL: testEnv.S3_ENDPOINT_URL,
      QUEUE_PREFIX: prefix,
      PORT: String(port),
      BX_DEMO_DATABASE: database,
      BX_DEMO_BUCKET: bucket,
      BX_DEMO_PG_TABLE: pgTable,
      POSTGRES_PORT: String(adminConfig().port),
      POSTGRES_USER: adminConfig().user,
      POSTGRES_PASSWORD: adminConfig().password,
      POSTGRES_DB: adminConfig().database,
      // As a user's shell has them: Node's warnings on, no token, the SDK's notice not switched off.
      NODE_NO_WARNINGS: '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '',
    };
    delete env.ADMIN_API_TOKEN;
    delete env.SECRETS_ENCRYPTION_KEYS;
    delete env.ALLOWED_PRIVATE_DESTINATIONS;
    const demo = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'demo.ts')], env).done;
    expect(demo.code, demo.out + demo.err).to.equal(0);
    expect(demo.out + demo.err).not.to.match(/NodeVersionSupportWarning|AWS SDK for JavaScript/);

    // The demo's Postgres export: each of the 3 hours holds team 1's events of that hour, once.
    const ch = createClient({ url: testEnv.CLICKHOUSE_URL });
    const source = await hourlyCounts(async () =>
      (
        await ch.query({
          query: `SELECT formatDateTime(toStartOfHour(inserted_at), '%Y-%m-%d %H:00') AS hour, count() AS n
                    FROM ${database}.events WHERE team_id = 1 GROUP BY hour`,
          format: 'JSONEachRow',
        })
      ).json(),
    );
    await ch.close();
    const stored = await hourlyCounts(async () => {
      const { rows } = await pg.query<{ hour: string; n: string }>(
        `SELECT to_char(date_trunc('hour', "inserted_at" AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:00') AS hour,
                count(DISTINCT "uuid") AS n
           FROM public."${pgTable}" WHERE "team_id" = 1 GROUP BY 1`,
      );
      const { rows: all } = await pg.query<{ n: string }>(`SELECT count(*) AS n FROM public."${pgTable}"`);
      expect(Number(all[0]!.n), 'rows in the table').to.equal(1500);
      return rows;
    });
    expect(source).to.have.length(3);
    expect(stored).to.deep.equal(source);
    expect(demo.out).to.contain(`Rows in PostgreSQL ${adminConfig().database}.public.${pgTable}`);
    expect(demo.out.match(/ 500 rows \(run: 500 records\)$/gm)).to.have.length(3);
    const steps = /# ---- next steps ----\n([\s\S]*?)\n# ---- end ----/.exec(demo.out)?.[1];
    expect(steps, demo.out).to.be.a('string');
    expect(steps).to.match(/^export ADMIN_API_TOKEN=[0-9a-f]{48}$/m);
    expect(steps).to.match(/^export SECRETS_ENCRYPTION_KEYS='[A-Za-z0-9+/]{43}='$/m);
    expect(steps).to.contain(
      `ALLOWED_PRIVATE_DESTINATIONS=127.0.0.1 CLICKHOUSE_DATABASE=${database} PORT=${port} npm start`,
    );
    expect(steps).to.contain(`"endpoint_url":"${testEnv.S3_ENDPOINT_URL}"`);

    // Pasted as printed; then this test reports npm start's process for clean-up and the export id.
    const pasted = run('bash', ['-c', `${steps}\necho "export-id $id"`], env);
    group = pasted.pid;
    const shell = await pasted.done;
    expect(shell.code, shell.out + shell.err).to.equal(0);
    const id = /^export-id (\S+)$/m.exec(shell.out)?.[1];
    expect(id, shell.out + shell.err).to.match(/^[0-9a-f-]{36}$/);
    expect(shell.out).to.contain('"results"');

    const token = /^export ADMIN_API_TOKEN=(\S+)$/m.exec(steps!)![1];
    const runs = await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/exports/${id}/runs`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const { results } = (await res.json()) as { results: Run[] };
        if (results.some((r) => r.status === 'Failed')) throw new Error(JSON.stringify(results));
        const done = results.filter((r) => r.status === 'Completed');
        return done.length >= 3 ? done : undefined;
      },
      180_000,
      'three completed runs of the pasted export',
    );
    expect(runs.reduce((n, r) => n + r.records_completed, 0)).to.be.greaterThan(0);
    const keys = await listKeys(testS3Client(), bucket, 'mine/');
    expect(keys.length).to.be.at.least(3);
  });
});

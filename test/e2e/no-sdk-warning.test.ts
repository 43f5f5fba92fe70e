import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Store } from '@bx/store';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { ServiceProcess } from '../helpers/processes';
import { createBucket, listKeys, testS3Client } from '../helpers/s3';

const ROOT = join(__dirname, '..', '..');
const TOKEN = 'warning-token-0123456789abcd';
const HOUR = 3_600_000;
/** What the AWS SDK's Node-version notice says (9 lines on Node 20). */
const SDK_NOTICE = /NodeVersionSupportWarning|AWS SDK for JavaScript/;

/**
 * Node's warnings on, as a user's shell has them (the test helpers switch
 * them off by default): the product and the CLI print nothing of the AWS
 * SDK's notice, and no other warning is hidden to get there.
 */
describe("the AWS SDK's Node-version notice", function () {
  this.timeout(90_000);
  let ch: TestClickHouse;
  let prefix: string;
  let product: ServiceProcess | undefined;

  beforeEach(async () => {
    ch = await new TestClickHouse().setup();
    prefix = uniqueName('bxw');
  });
  afterEach(async () => {
    await product?.stop();
    const store = Store.connect(testEnv.REDIS_URL, prefix);
    const keys = await store.redis.keys(`${prefix}*`);
    if (keys.length) await store.redis.del(...keys);
    await store.close();
    await ch.drop();
  });

  it('is not printed by npm start exporting to S3, nor by a CLI backfill run with --wait', async () => {
    const base = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    await ch.insert([makeEvent({ team_id: 1, inserted_at: chTime(new Date(base + 60_000).toISOString()) })]);
    const s3 = testS3Client();
    const bucket = await createBucket(s3);
    const env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: ch.database,
      QUEUE_PREFIX: prefix,
      ADMIN_API_TOKEN: TOKEN,
      PORT: '0',
      SCHEDULER_TICK_MS: '200',
      SCHEDULER_SETTLE_SECONDS: '0',
      NODE_NO_WARNINGS: '',
      // As in a user's shell (the test process sets it for its own clients).
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '',
    };
    product = new ServiceProcess('all-in-one', env);
    await product.waitForLog('api listening');
    const port = product.logs.find((l) => l.msg === 'api listening')!.port as number;
    const created = await fetch(`http://127.0.0.1:${port}/api/exports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'warnings',
        team_id: 1,
        interval: 'hour',
        // Never scheduled (its schedule would start at the current hour, after end_at): the CLI's
        // backfill is the only run, also when the clock passes an hour while npm start runs.
        end_at: new Date(base + HOUR).toISOString(),
        destination: {
          type: 'S3',
          config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
        },
      }),
    });
    expect(created.status).to.equal(201);
    const { id } = (await created.json()) as { id: string };

    const cli = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          join(ROOT, 'services', 'cli', 'dist', 'enqueue-backfill.js'),
          ...['--export-id', id, '--start', new Date(base).toISOString(), '--end', new Date(base + HOUR).toISOString()],
          ...['--wait', '--poll-ms', '200'],
        ],
        { env: { ...process.env, ...env } },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout + stderr }),
      );
    });
    expect(cli.code, cli.out).to.equal(0);
    // The interval's object and its receipt.
    expect(await listKeys(s3, bucket)).to.have.length(2);
    expect(cli.out).not.to.match(SDK_NOTICE);
    expect(product.stderr.join('')).not.to.match(SDK_NOTICE);
    expect(JSON.stringify(product.logs)).not.to.match(SDK_NOTICE);
  });
});

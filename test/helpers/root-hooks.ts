import { testEnv } from './env';
import { deleteCreatedBuckets } from './s3';

// The test process's own S3 clients: no AWS SDK Node-version notice in the
// test output (the product switches it off itself, and a test checks that).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// Tests talk to real servers; say clearly when they are not running.
export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(10_000);
    const checks: Array<[string, string]> = [
      ['ClickHouse', `${testEnv.CLICKHOUSE_URL}/ping`],
      ['S3 server', `${testEnv.S3_ENDPOINT_URL}/`],
    ];
    for (const [name, url] of checks) {
      try {
        await fetch(url);
      } catch {
        throw new Error(
          `${name} is not reachable at ${url}: start the services with 'bash scripts/local-services.sh start' (npm test does this)`,
        );
      }
    }
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    // `npm test` throws its services' folder away anyway; this is for mocha run against the
    // developer's services. Housekeeping only: a failure is reported, not a failed run.
    await deleteCreatedBuckets().catch((err: unknown) =>
      console.warn(`[test] could not delete the test buckets: ${err instanceof Error ? err.message : String(err)}`),
    );
  },
};

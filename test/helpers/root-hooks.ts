import { testEnv } from './env';

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
};

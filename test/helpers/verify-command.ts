import { verifyMain } from '@bx/cli';
import { TEST_ALLOWED_PRIVATE, testEnv } from './env';
import type { ReconcileBed } from './reconcile-bed';

/**
 * `npm run verify` against a bed's Redis prefix and ClickHouse database:
 * `env()` as the command reads it, `verify(argv)` run in this process
 * (its exit code and what it printed). `bed` is read at each call.
 */
export function verifyCommand(bed: () => Pick<ReconcileBed, 'prefix'> & { ch: { database: string } }) {
  const env = (): Record<string, string> => ({
    REDIS_URL: testEnv.REDIS_URL,
    QUEUE_PREFIX: bed().prefix,
    CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
    CLICKHOUSE_DATABASE: bed().ch.database,
    // The test servers listen on loopback: verify holds destinations to the policy as runs do.
    ALLOWED_PRIVATE_DESTINATIONS: TEST_ALLOWED_PRIVATE,
  });
  const verify = async (argv: string[], environment: Record<string, string> = env()) => {
    let stdout = '';
    let stderr = '';
    const out = { write: (s: string) => (stdout += s) };
    const code = await verifyMain(argv, environment, out, { write: (s: string) => (stderr += s) });
    return { code, stdout, stderr };
  };
  return { env, verify };
}

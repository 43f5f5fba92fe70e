import { randomBytes } from 'node:crypto';

/** Where the services started by scripts/local-services.sh listen. */
export const testEnv = {
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  CLICKHOUSE_URL: process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123',
  S3_ENDPOINT_URL: process.env.S3_ENDPOINT_URL ?? 'http://127.0.0.1:4568',
  /** A superuser of the PostgreSQL server (scripts/local-services.sh: user bx, password bx, database bx). */
  POSTGRES_URL: process.env.POSTGRES_URL ?? 'postgres://bx:bx@127.0.0.1:5432/bx',
  /**
   * Seeds of the 3-master Redis Cluster (`local-services.sh start
   * redis-cluster`) the cluster tests run on. Not REDIS_CLUSTER_NODES: the
   * services the other tests start inherit the environment.
   */
  TEST_REDIS_CLUSTER_NODES: (
    process.env.TEST_REDIS_CLUSTER_NODES ?? '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003'
  ).split(','),
};

/** s3rver's built-in account. */
export const S3_CREDENTIALS = { aws_access_key_id: 'S3RVER', aws_secret_access_key: 'S3RVER' };

/** A name unique to this test: queue prefixes, databases, buckets. */
export function uniqueName(stem: string): string {
  return `${stem}-${randomBytes(4).toString('hex')}`;
}

/** A fixed key for SECRETS_ENCRYPTION_KEYS of the processes tests start (32 bytes, base64). */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 7).toString('base64');

/** Loopback, where every test server listens: what ALLOWED_PRIVATE_DESTINATIONS must let through in tests. */
export const TEST_ALLOWED_PRIVATE = '127.0.0.0/8,::1,localhost';

/**
 * The security settings every process a test starts gets unless the test says otherwise:
 * secrets encrypted with TEST_SECRETS_KEY, destinations on loopback allowed.
 */
export const TEST_SECURITY_ENV: Record<string, string> = {
  SECRETS_ENCRYPTION_KEYS: TEST_SECRETS_KEY,
  ALLOWED_PRIVATE_DESTINATIONS: TEST_ALLOWED_PRIVATE,
};

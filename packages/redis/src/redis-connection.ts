import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** One Redis server or a Redis Cluster: the commands the product uses work on both. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: `REDIS_URL`, or `REDIS_CLUSTER_NODES` when set (a Cluster). */
export interface RedisTarget {
  /** `redis://` or `rediss://` URL of one server. */
  url: string;
  /** `host:port` seeds of a Redis Cluster; when non-empty, `url` only lends its credentials and TLS. */
  clusterNodes?: readonly string[];
}

/**
 * Opens a connection. Options apply to every node of a Cluster. Every key the
 * product uses carries the deployment prefix's hash tag in cluster mode, so a
 * script's keys, a MULTI and a pipeline always map to one slot.
 */
export function connectRedis(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  if (target.clusterNodes && target.clusterNodes.length > 0) {
    const auth = credentialsOf(target.url);
    return new Cluster(
      target.clusterNodes.map((node) => {
        const at = node.lastIndexOf(':');
        return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
      }),
      { redisOptions: { ...auth, ...options }, enableReadyCheck: true },
    );
  }
  return new Redis(target.url, options);
}

/** A new connection to the same place (BullMQ workers, pub/sub subscribers need their own). */
export function duplicateRedis(client: RedisClient, options: RedisOptions = {}): RedisClient {
  return client.duplicate(options as never) as RedisClient;
}

function credentialsOf(url: string): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  const parsed = new URL(url);
  return {
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
  };
}

/** Where a connection points, for messages: the URL without credentials, or the cluster seeds. */
export function describeRedis(target: RedisTarget): string {
  if (target.clusterNodes && target.clusterNodes.length > 0) return `cluster ${target.clusterNodes.join(',')}`;
  try {
    const parsed = new URL(target.url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return target.url;
  }
}

import { S3Client } from '@aws-sdk/client-s3';
import type { NetworkPolicy } from '@bx/core';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createHash } from 'node:crypto';
import { capAnswers } from './response-cap';
import type { S3Config } from './s3-config';

// Node 20 is this project's runtime; the SDK's notice about future versions
// would otherwise print a multi-line warning into the JSON log stream. The
// SDK's own switch, so no other warning is hidden; set it to `false` to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';

/** Longest wait for a connection (TCP and TLS) to S3, in ms. */
export const S3_CONNECT_TIMEOUT_MS = 10_000;
/** A request whose connection sends and receives nothing this long is cut, in ms. */
export const S3_IDLE_TIMEOUT_MS = 60_000;
/**
 * Longest one request may take, in ms: an 8 MiB part at 15 KB/s. Without these three an
 * endpoint that accepted TCP and never answered held a run, or /test, for as long as the
 * kernel kept the connection (400 s and more).
 */
export const S3_REQUEST_TIMEOUT_MS = 10 * 60_000;

/** Clients kept for reuse, at most (the oldest unused one goes first). */
const SHARED_CLIENTS = 256;

/**
 * A new S3 client for one export's credentials; path-style when a custom
 * endpoint is set. With `network`, it connects only to addresses the policy
 * allows (checked on every connection). Answers are read up to a cap
 * (response-cap.ts): the endpoint is the token holder's choice.
 */
export function createS3Client(config: S3Config, network?: NetworkPolicy): S3Client {
  const { httpAgent, httpsAgent } = sharedAgents(network);
  const client = new S3Client({
    requestHandler: new NodeHttpHandler({
      connectionTimeout: S3_CONNECT_TIMEOUT_MS,
      socketTimeout: S3_IDLE_TIMEOUT_MS,
      requestTimeout: S3_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
      httpAgent,
      httpsAgent,
    }),
    region: config.region,
    endpoint: config.endpoint_url ?? undefined,
    forcePathStyle: Boolean(config.endpoint_url),
    credentials: { accessKeyId: config.aws_access_key_id, secretAccessKey: config.aws_secret_access_key },
    // The run's own retry policy backs off for hours; the SDK only smooths blips.
    maxAttempts: 3,
    // Bodies are already covered by their SigV4 payload hash (SHA-256, which
    // S3 checks; PartUpload computes it): a CRC32 of every part on top cost
    // the event loop about 2% of a zstd export. Operations that require a
    // checksum (DeleteObjects) still get one.
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  return capAnswers(client);
}

const unguardedClients = new Map<string, S3Client>();
const guardedClients = new WeakMap<NetworkPolicy, Map<string, S3Client>>();

/**
 * The client of every run with the same endpoint, region and credentials
 * under the same network policy. A client of its own per run cost a tiny run
 * (two PUTs of a few hundred bytes) about 1.9 ms of worker CPU beyond the
 * requests (400 runs in a row: 5.2 against 3.4 ms): building the client and
 * resolving its configuration (region, credentials, endpoint rules) on its
 * first request. A run stops only its own requests through RunRequests.
 */
export function sharedS3Client(config: S3Config, network?: NetworkPolicy): S3Client {
  let clients = network ? guardedClients.get(network) : unguardedClients;
  if (!clients) guardedClients.set(network!, (clients = new Map()));
  // The secret is in the key as a hash: the clients hold it anyway, the key need not.
  const secret = createHash('sha256').update(config.aws_secret_access_key).digest('base64');
  const key = JSON.stringify([config.endpoint_url ?? null, config.region, config.aws_access_key_id, secret]);
  let client = clients.get(key);
  if (client) {
    clients.delete(key);
  } else {
    client = createS3Client(config, network);
    // Not destroyed: its connections are the shared agents', which stay.
    if (clients.size >= SHARED_CLIENTS) clients.delete(clients.keys().next().value!);
  }
  clients.set(key, client);
  return client;
}

interface Agents {
  httpAgent: HttpAgent;
  httpsAgent: HttpsAgent;
}
const unguarded: { agents?: Agents } = {};
const guarded = new WeakMap<NetworkPolicy, Agents>();

/**
 * Keep-alive agents shared by every client under the same network policy:
 * connections to an endpoint are reused from run to run instead of one
 * opened per run, which cost a tiny run (two rows) about a quarter of its
 * S3 writer CPU (1,000 runs 16 at a time: 6.6 -> 4.9 ms with a shared client).
 */
export function sharedAgents(network?: NetworkPolicy): Agents {
  const found = network ? guarded.get(network) : unguarded.agents;
  if (found) return found;
  const options = { keepAlive: true, maxSockets: 50 };
  const guard = <A extends HttpAgent>(a: A): A => (network ? network.guardAgent(a) : a);
  const agents = { httpAgent: guard(new HttpAgent(options)), httpsAgent: guard(new HttpsAgent(options)) };
  if (network) guarded.set(network, agents);
  else unguarded.agents = agents;
  return agents;
}

/** Server-side encryption parameters for every upload. */
export function encryptionParams(config: S3Config): {
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
} {
  if (!config.encryption) return {};
  return {
    ServerSideEncryption: config.encryption,
    ...(config.encryption === 'aws:kms' && config.kms_key_id ? { SSEKMSKeyId: config.kms_key_id } : {}),
  };
}

import { PermanentError, endpointOfUrl, unmapped, type NetworkPolicy } from '@bx/core';
import Module from 'node:module';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { withinPolicy } from './scoped-connections';

/** Code of the error of a PUT whose answer the file transfer guard refused. */
export const UNSAFE_FILE_TRANSFER = 'UnsafeFileTransfer';

/** The network policy of each guarded session, by its `agentClass` option (SessionAgents registers it). */
export const sessionPolicies = new WeakMap<object, NetworkPolicy>();

/** What the SDK's file transfer agent is given (snowflake-sdk lib/connection/statement.js). */
export interface TransferContext {
  sqlText?: string;
  /** The server's answer to the PUT. */
  fileMetadata?: { data?: Record<string, unknown> };
  connectionConfig?: { agentClass?: unknown; accessUrl?: string };
}

type Agent = { execute(): Promise<unknown> };
type AgentClass = new (context: TransferContext) => Agent;

const FTA_MODULE = 'snowflake-sdk/dist/lib/file_transfer_agent/file_transfer_agent';
const STATEMENT_MODULE = 'snowflake-sdk/dist/lib/connection/statement';
const GUARDED = Symbol.for('bx.guardedFileTransfer');

/**
 * Makes the SDK vet the server's answer to a PUT before it moves a byte.
 * The SDK reads which local files to upload (`src_locations`) and where to
 * (`stageInfo`: a cloud storage endpoint, or LOCAL_FS, a folder of this
 * machine) from Snowflake's answer, not from the statement. An `access_url`
 * of a token holder's own server could thus have a worker upload any file
 * it can read (/proc/self/environ: SECRETS_ENCRYPTION_KEYS, the API token,
 * CLICKHOUSE_PASSWORD) to storage of theirs, upload to private addresses, or
 * write into any folder of the worker (and set its umask to 0). Must run
 * before snowflake-sdk is loaded: it replaces the file transfer agent the
 * SDK's statements construct.
 */
export function guardFileTransfers(): void {
  const id = require.resolve(FTA_MODULE);
  const cached = require.cache[id];
  if ((cached?.exports as { [GUARDED]?: boolean } | undefined)?.[GUARDED]) return;
  if (cached || require.cache[require.resolve(STATEMENT_MODULE)]) {
    throw new Error(
      'snowflake-sdk was loaded before its file transfers could be guarded; load it with loadSnowflakeSdk',
    );
  }
  // The agent's module requires statement.js, which requires it back: loaded
  // first it would hand statement.js an empty module. So the SDK finds this
  // stub under the agent's name, and the real agent is loaded on first use,
  // as a module of its own, once statement.js is complete.
  let Original: AgentClass | undefined;
  const original = (): AgentClass => {
    if (!Original) {
      const real = new Module(id, module);
      real.filename = id;
      real.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(id));
      (real as unknown as { load(file: string): void }).load(id);
      Original = real.exports as AgentClass;
    }
    return Original;
  };
  function Guarded(context: TransferContext): Agent {
    const agent = new (original())(context);
    const execute = agent.execute.bind(agent);
    agent.execute = async () => {
      await vetFileTransfer(context);
      // The storage SDKs connect on their own: each connection meets the policy again (DNS rebinding).
      const network = sessionPolicies.get(context.connectionConfig?.agentClass as object);
      return network ? withinPolicy(network, execute) : execute();
    };
    return agent;
  }
  (Guarded as unknown as { [GUARDED]: boolean })[GUARDED] = true;
  const stub = new Module(id, module);
  stub.filename = id;
  stub.loaded = true;
  stub.exports = Guarded;
  require.cache[id] = stub;
}

/**
 * Refuses (PermanentError) a PUT answer that would upload anything but the
 * statement's own local file, download, write into a folder of this machine
 * when the server is not on it, or upload to an address the session's
 * network policy refuses (after DNS resolution, as for the destination).
 */
export async function vetFileTransfer(context: TransferContext): Promise<void> {
  const data = context.fileMetadata?.data ?? {};
  const put = /^\s*PUT\s+'file:\/\/([^'*?]+)'/i.exec(context.sqlText ?? '');
  if (!put) refuse('only PUT of one local file is sent');
  if (data.command !== 'UPLOAD') refuse(`Snowflake answered the PUT with the command ${String(data.command)}`);
  const sources = data.src_locations;
  if (!Array.isArray(sources) || sources.length !== 1 || sources[0] !== put[1]) {
    refuse('Snowflake answered the PUT naming local files to upload other than the one the PUT names');
  }
  const stage = (data.stageInfo ?? {}) as Record<string, unknown>;
  const type = stage.locationType;
  if (type === 'LOCAL_FS') {
    if (!onThisMachine(context.connectionConfig?.accessUrl)) {
      refuse('Snowflake answered the PUT with a stage on this machine (LOCAL_FS), but it is not on this machine');
    }
    return;
  }
  if (type !== 'S3' && type !== 'AZURE' && type !== 'GCS') refuse(`unknown stage location type ${String(type)}`);
  const network = sessionPolicies.get(context.connectionConfig?.agentClass as object);
  if (!network) return;
  for (const { host, port } of storageHosts(data, stage)) await network.checkHost(host, port);
}

/**
 * Every host and port a stage's upload may go to (the storage SDKs' own
 * defaults are cloud hosts); a URL without a port goes to its scheme's
 * (https when it names none), so `host:port` entries of the policy apply.
 */
export function storageHosts(
  data: Record<string, unknown>,
  stage: Record<string, unknown>,
): Array<{ host: string; port: number }> {
  const urls = [stage.presignedUrl, ...(Array.isArray(data.presignedUrls) ? data.presignedUrls : [])];
  const endPoint = typeof stage.endPoint === 'string' && stage.endPoint ? stage.endPoint : null;
  const account = typeof stage.storageAccount === 'string' && stage.storageAccount ? stage.storageAccount : null;
  if (endPoint) urls.push(endPoint);
  // The AWS SDK addresses a bucket whose name is a DNS name as a host of its own: `<bucket>.<endPoint>`.
  const bucket = typeof stage.location === 'string' ? stage.location.split('/')[0]! : '';
  if (endPoint && stage.locationType === 'S3' && S3_HOST_BUCKET.test(bucket) && !endPoint.includes('://')) {
    urls.push(`${bucket}.${endPoint.replace(/^\/+/, '')}`);
  }
  if (endPoint && account && !endPoint.includes('://')) {
    urls.push(`${account}.blob.${endPoint.replace(/^\/+/, '')}`, `${account}.${endPoint.replace(/^\/+/, '')}`);
  }
  const endpoints = new Map<string, { host: string; port: number }>();
  for (const url of urls) {
    if (typeof url !== 'string' || url === '') continue;
    try {
      const { host, port = 443 } = endpointOfUrl(url.includes('://') ? url : `https://${url}`);
      endpoints.set(`${host} ${port}`, { host, port });
    } catch {
      refuse(`Snowflake answered the PUT with a storage address that is not a URL`);
    }
  }
  return [...endpoints.values()];
}

/** A bucket name the AWS SDK puts in the host name (virtual-hosted addressing), not in the path. */
const S3_HOST_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Whether the session's server is this machine (loopback): the Snowflake test bed. */
function onThisMachine(accessUrl: string | undefined): boolean {
  try {
    const host = new URL(accessUrl ?? '').hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === 'localhost') return true;
    const ip = unmapped(host);
    return (isIP(ip) === 4 && ip.startsWith('127.')) || ip === '::1';
  } catch {
    return false;
  }
}

function refuse(reason: string): never {
  throw new PermanentError(`Snowflake PUT refused: ${reason}`, { code: UNSAFE_FILE_TRANSFER });
}

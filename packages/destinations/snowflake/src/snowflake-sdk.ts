import type * as SnowflakeSdk from 'snowflake-sdk';
import { guardFileTransfers } from './file-transfer-guard';
import { guardRedirects, type AgentsOfRequest } from './snowflake-agents';

export type Sdk = typeof SnowflakeSdk;
export type SdkConnection = SnowflakeSdk.Connection;
export type SdkConnectionOptions = SnowflakeSdk.ConnectionOptions;
export type SdkStatement = SnowflakeSdk.RowStatement;
export type SdkColumn = SnowflakeSdk.Column;
export type SdkBinds = SnowflakeSdk.Binds;

let loaded: Sdk | undefined;

/**
 * snowflake-sdk, loaded on first use with its process-wide side effects off.
 * Loading it takes seconds and probes cloud metadata endpoints (169.254.169.254,
 * AWS STS) unless told not to before the module is evaluated, so processes
 * that never meet a Snowflake export never pay for it. Its logger would write
 * `./snowflake.log` in the working directory; our logs are the JSON lines.
 */
export function loadSnowflakeSdk(): Sdk {
  if (loaded) return loaded;
  process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';
  process.env.SF_TELEMETRY_DISABLE_CONNECTION_SHAPE ??= 'true';
  guardFileTransfers();
  const sdk = require('snowflake-sdk') as Sdk;
  sdk.configure({ logLevel: 'OFF' });
  capAnswers();
  loaded = sdk;
  return sdk;
}

/** Most bytes of a login, session or telemetry answer: a few KB of JSON. */
export const MAX_SESSION_ANSWER_BYTES = 1024 * 1024;
/**
 * Most bytes of any other answer: a statement's, with its first rows
 * inline, and each result chunk of its further rows (cloud storage URLs the
 * statement's answer names: with an `access_url` of a token holder's own,
 * any URL; a real Snowflake's chunks are tens of MB).
 */
export const MAX_API_ANSWER_BYTES = 64 * 1024 * 1024;

interface AxiosLike {
  interceptors: {
    request: { use(f: (config: { url?: string; maxContentLength?: number } & AgentsOfRequest) => unknown): unknown };
  };
}

/**
 * The SDK's axios reads an answer whole, without limit (maxContentLength
 * -1), before parsing it: an `access_url` of a token holder's own that
 * answered a login with 200 MB took the process to 567 MB, and kept it
 * reading after /test had given up. Every answer gets a cap (by path); past
 * it axios stops reading and the request fails.
 */
function capAnswers(): void {
  const http = (require('snowflake-sdk/dist/lib/http/axios_instance') as { default: AxiosLike }).default;
  http.interceptors.request.use((config) => {
    // A redirect to the other protocol must meet a guarded agent too.
    guardRedirects(config);
    const path = config.url ? new URL(config.url, 'http://x').pathname : '';
    const cap = /^\/(session|telemetry)\b/.test(path) ? MAX_SESSION_ANSWER_BYTES : MAX_API_ANSWER_BYTES;
    if (!((config.maxContentLength ?? -1) >= 0 && config.maxContentLength! <= cap)) {
      config.maxContentLength = cap;
    }
    return config;
  });
}

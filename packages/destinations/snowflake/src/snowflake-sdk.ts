import type * as SnowflakeSdk from 'snowflake-sdk';

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
  const sdk = require('snowflake-sdk') as Sdk;
  sdk.configure({ logLevel: 'OFF' });
  loaded = sdk;
  return sdk;
}

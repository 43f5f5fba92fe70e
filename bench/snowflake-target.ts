import { snowflakeConfig, startSnowflakeServer } from '../test/helpers/snowflake';
import type { BenchSnowflakeTarget } from './product';

/**
 * The loopback Snowflake server (test/snowflake-server) in this process, as
 * the benchmark's Snowflake: the worker logs in, PUTs its files and sends
 * COPY INTO as it would to Snowflake. Its COPY counts each file's rows
 * without keeping them (an interval is gigabytes of JSON).
 */
export async function benchSnowflake(): Promise<BenchSnowflakeTarget & { close(): Promise<void> }> {
  const server = await startSnowflakeServer({ users: { loader: 'loader-password' }, keepLoadedRows: false });
  return {
    config: { ...snowflakeConfig(server), table_name: 'bench_events' },
    copyArrivedAt: (since) => server.queryLog.find((q) => q.at >= since && q.sql.startsWith('COPY INTO'))?.at,
    close: () => server.close(),
  };
}

export * from './backfill-repository';
export * from './export-repository';
export * from './keys';
export * from './reconciliation-repository';
export * from './run-log-repository';
export * from './run-repository';
export * from './schedule-repository';
export * from './session-repository';
export * from './stats-repository';
export { RUN_DURATION_BUCKETS } from './run-durations';
export * from './store';
/** The API tells a Redis outage (503) from a bug (500) without depending on the connection package. */
export { isRedisUnavailable } from '@bx/redis';

export * from './backfill-repository';
export * from './export-repository';
export * from './keys';
export * from './run-log-repository';
export * from './run-repository';
export * from './schedule-repository';
export * from './stats-repository';
export { RUN_DURATION_BUCKETS } from './run-durations';
export * from './store';

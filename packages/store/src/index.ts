export * from './backfill-repository';
export * from './export-repository';
export * from './keys';
export * from './run-repository';
export * from './schedule-repository';
export * from './session-repository';
export * from './stats-repository';
export { RUN_DURATION_BUCKETS } from './run-scripts';
export * from './store';

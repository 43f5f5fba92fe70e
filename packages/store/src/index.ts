export * from './backfill-repository';
export * from './export-repository';
export * from './keys';
export * from './run-repository';
export * from './schedule-repository';
export * from './store';

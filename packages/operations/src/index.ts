export * from './backfill-service';
export * from './export-input';
export * from './export-service';
export * from './run-service';
export * from './failure-policy';
export * from './run-admission';

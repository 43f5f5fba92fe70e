export * from './bullmq-run-queue';
export * from './memory-run-queue';
export * from './run-job';
export * from './run-outcome';
export * from './run-queue';

export * from './run-job';
export * from './run-queue';

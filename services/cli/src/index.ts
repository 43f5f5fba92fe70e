export * from './enqueue-backfill';
export * from './progress';

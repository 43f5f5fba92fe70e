export * from './enqueue-backfill';
export * from './progress';
export { main as verifyMain } from './verify';
export * from './verify-report';
export { main as rotateSecretsMain } from './rotate-secrets';

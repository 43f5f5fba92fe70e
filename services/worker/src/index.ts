export * from './main';
export * from './run-export';
export * from './attempt-fence';
export * from './worker-config';

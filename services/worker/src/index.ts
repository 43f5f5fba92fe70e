export * from './main';
export * from './run-export';

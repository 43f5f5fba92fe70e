export * from './destinations';
export * from './main';
export * from './run-export';

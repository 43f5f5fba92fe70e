export * from './app';
export * from './main';

export * from './plugins';
export * from './registry';

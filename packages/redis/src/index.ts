export * from './lua-scripts';
export * from './redis-connection';
export * from './redis-errors';

export * from './lua-scripts';
export * from './redis-connection';

export * from './app';
export * from './main';
export * from './admin-session';

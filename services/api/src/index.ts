export * from './app';
export * from './main';
export * from './admin-session';
export * from './openapi/document';
export * from './auth-failures';
export * from './listen';
export { BOARD_JOBS_PER_PAGE_MAX } from './bull-board';

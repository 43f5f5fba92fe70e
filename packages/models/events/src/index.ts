export * from './events-model';
export * from './events-query';

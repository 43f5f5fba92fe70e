export * from './persons-model';
export * from './persons-query';

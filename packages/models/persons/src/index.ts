export * from './persons-model';
export * from './persons-query';
export * from './persons-checksums-query';

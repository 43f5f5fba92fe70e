export * from './object-key';
export * from './object-upload';
export * from './s3-client';
export * from './s3-destination';
export * from './s3-errors';
export * from './rerun-cleanup';
export * from './output-file';
export * from './parquet-encoder';

export * from './clickhouse-source';
export * from './sql-escape';
export { decodeRowBinary } from './row-binary-frames';
export { columnTypes } from './column-types';
export * from './clickhouse-ping';
export * from './shared-reads';

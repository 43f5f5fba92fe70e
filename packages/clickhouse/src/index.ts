export * from './clickhouse-source';
export * from './sql-escape';
export { decodeRowBinary } from './row-binary-frames';
export * from './clickhouse-ping';

export * from './clickhouse-source';
export * from './events-query';
export * from './sql-escape';

export * from './snowflake-sdk';

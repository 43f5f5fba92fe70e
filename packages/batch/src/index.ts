export * from './batch-format';
export * from './destination-writer';
export * from './event-batch';
export * from './event-fields';
export * from './json-bytes';
export * from './receipt-tally';
export * from './field-batch';
export * from './timestamp-micros';
export { grown } from './record-lines';

export * from './destination-writer';
export * from './event-batch';
export * from './event-fields';
export * from './json-bytes';
export * from './timestamp-micros';

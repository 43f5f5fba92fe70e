export * from './json-lines';
export type { ZstdStreamParams } from './zstd-protocol';
export { terminateZstdThread, ZstdSlotStream, zstdFrames } from './zstd-stream';

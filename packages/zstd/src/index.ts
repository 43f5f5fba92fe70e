export * from './json-lines';
export type { ZstdStreamParams } from './zstd-protocol';
export {
  freeStreamMemory,
  PAGE_SLOTS,
  terminateZstdThread,
  ZstdSlotStream,
  zstdFrames,
  type LentFrame,
  type RecordRows,
} from './zstd-stream';

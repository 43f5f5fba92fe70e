import { findFrameCompressedSize } from 'zstd-napi/binding';

/** What the frames of a zstd stream declare (RFC 8878, 3.1.1): their sizes and windows. */
export interface ZstdFrame {
  /** Bytes of the frame in the stream. */
  bytes: number;
  /** The window the decoder must keep, from the Window_Descriptor (null for a single-segment frame). */
  window: number | null;
}

const MAGIC = 0xfd2fb528;

/** The frames `data` is made of, in order; throws on anything that is not a zstd frame. */
export function zstdFrames(data: Uint8Array): ZstdFrame[] {
  const frames: ZstdFrame[] = [];
  for (let at = 0; at < data.length;) {
    const view = new DataView(data.buffer, data.byteOffset + at, data.length - at);
    if (view.getUint32(0, true) !== MAGIC) throw new Error(`no zstd frame at byte ${at}`);
    const descriptor = view.getUint8(4);
    const singleSegment = (descriptor & 0x20) !== 0;
    let window: number | null = null;
    if (!singleSegment) {
      const w = view.getUint8(5);
      const base = 2 ** (10 + (w >> 3));
      window = base + (base / 8) * (w & 7);
    }
    const bytes = findFrameCompressedSize(data.subarray(at));
    frames.push({ bytes, window });
    at += bytes;
  }
  return frames;
}

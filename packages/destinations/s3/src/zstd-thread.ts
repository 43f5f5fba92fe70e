/**
 * The script of the zstd compression thread (see zstd-stream.ts): one
 * compression context per open stream. zstd-napi compresses synchronously,
 * so on the main thread it would stop the event loop that reads ClickHouse
 * and feeds the upload.
 */
import { parentPort } from 'node:worker_threads';
import * as zstd from 'zstd-napi/binding';
import { serveRequests } from './thread-channel';
import { NO_SHARED_MEMORY } from './zstd-protocol';

export type ZstdRequest =
  | { id: number; op: 'open'; level: number }
  | { id: number; op: 'write'; data: Uint8Array }
  | { id: number; op: 'end' }
  | { id: number; op: 'close' }
  /** One-shot: `data` as one zstd frame (a Parquet page that does not fit a shared slot); answers the frame. */
  | { id: number; op: 'compress'; level: number; data: Uint8Array }
  /**
   * One-shot within the process's shared page memory (`memory`, sent once:
   * a thread that has none answers NO_SHARED_MEMORY): `[input, input +
   * length)` as one frame at `output`; answers the frame's size.
   */
  | {
      id: number;
      op: 'compressShared';
      level: number;
      memory?: SharedArrayBuffer;
      input: number;
      length: number;
      output: number;
      capacity: number;
    };

const OUT_SIZE = zstd.cStreamOutSize();
const NOTHING = new Uint8Array(0);
const contexts = new Map<number, zstd.CCtx>();

function compress(cctx: zstd.CCtx, src: Uint8Array, endOp: zstd.EndDirective): Uint8Array[] {
  const out: Uint8Array[] = [];
  // Output in pieces of at least a quarter of the input: few messages per batch.
  const size = Math.max(OUT_SIZE, src.length >> 2);
  for (;;) {
    const dst = Buffer.allocUnsafe(size);
    const [remaining, produced, consumed] = cctx.compressStream2(dst, src, endOp);
    // An exact copy: its whole ArrayBuffer is transferred to the main thread, not cloned.
    if (produced > 0) out.push(dst.slice(0, produced));
    src = src.subarray(consumed);
    if (src.length === 0 && (endOp === zstd.EndDirective.continue || remaining === 0)) return out;
  }
}

/** One context per level for one-shot requests, and one output buffer reused by all. */
const oneShot = new Map<number, zstd.CCtx>();
let scratch = Buffer.allocUnsafe(0);

let shared: SharedArrayBuffer | null = null;

function oneShotContext(level: number): zstd.CCtx {
  let cctx = oneShot.get(level);
  if (!cctx) {
    cctx = new zstd.CCtx();
    cctx.setParameter(zstd.CParameter.compressionLevel, level);
    oneShot.set(level, cctx);
  }
  return cctx;
}

function compressFrame(level: number, src: Uint8Array): Uint8Array {
  const cctx = oneShotContext(level);
  const bound = zstd.compressBound(src.length);
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(bound);
  const n = cctx.compress2(scratch, src);
  // An exact copy (a fraction of the input): transferred whole.
  return new Uint8Array(scratch.subarray(0, n));
}

serveRequests<ZstdRequest>(parentPort!, (m) => {
  if (m.op === 'compressShared') {
    if (m.memory) shared = m.memory;
    if (!shared) throw new Error(NO_SHARED_MEMORY);
    const src = new Uint8Array(shared, m.input, m.length);
    const dst = new Uint8Array(shared, m.output, m.capacity);
    return { body: oneShotContext(m.level).compress2(dst, src) };
  }
  if (m.op === 'compress') {
    const frame = compressFrame(m.level, m.data);
    return { body: frame, transfer: [frame.buffer as ArrayBuffer] };
  }
  if (m.op === 'open') {
    const cctx = new zstd.CCtx();
    cctx.setParameter(zstd.CParameter.compressionLevel, m.level);
    contexts.set(m.id, cctx);
    return null;
  }
  if (m.op === 'close') {
    contexts.delete(m.id);
    return null;
  }
  const cctx = contexts.get(m.id);
  if (!cctx) throw new Error(`zstd stream ${m.id} is not open`);
  const out =
    m.op === 'write'
      ? compress(cctx, m.data, zstd.EndDirective.continue)
      : compress(cctx, NOTHING, zstd.EndDirective.end);
  if (m.op === 'end') contexts.delete(m.id);
  return { body: out, transfer: out.map((piece) => piece.buffer as ArrayBuffer) };
});

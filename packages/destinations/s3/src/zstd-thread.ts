/**
 * The script of the zstd compression thread (see zstd-stream.ts): one
 * compression context per open stream. zstd-napi compresses synchronously,
 * so on the main thread it would stop the event loop that reads ClickHouse
 * and feeds the upload.
 */
import { parentPort } from 'node:worker_threads';
import * as zstd from 'zstd-napi/binding';
import { serveRequests } from './thread-channel';
import { NO_SHARED_MEMORY, type ZstdStreamParams } from './zstd-protocol';

/**
 * zstd.h's ZSTD_c_literalCompressionMode (ZSTD_c_experimentalParam5, in the
 * zstd that zstd-napi bundles) and ZSTD_ps_enable: literals are
 * Huffman-coded even with a targetLength, where zstd would stop. zstd-napi
 * lists only the stable parameters; its setParameter passes any number on.
 */
const LITERAL_COMPRESSION_MODE = 1002 as zstd.CParameter;
const PARAM_SWITCH_ENABLE = 1;

export type ZstdRequest =
  /** Opens stream `id`: one frame, compressed in slots of `memory` (see ZstdSlotStream). */
  | { id: number; op: 'open'; params: ZstdStreamParams; memory: SharedArrayBuffer }
  /**
   * Compresses `[input, input + length)` of stream `stream`'s memory into
   * `[output, output + capacity)`, ending the frame if `end`; answers the
   * bytes written there. Requests of one stream carry ids of their own, and
   * run in the order sent (every request is handled synchronously).
   */
  | {
      id: number;
      op: 'compressSlot';
      stream: number;
      input: number;
      length: number;
      output: number;
      capacity: number;
      end: boolean;
    }
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

const contexts = new Map<number, { cctx: zstd.CCtx; memory: SharedArrayBuffer }>();

/** Compresses all of `src` into `dst`; answers the bytes written. */
function compressInto(cctx: zstd.CCtx, dst: Uint8Array, src: Uint8Array, endOp: zstd.EndDirective): number {
  let written = 0;
  for (;;) {
    const [remaining, produced, consumed] = cctx.compressStream2(dst.subarray(written), src, endOp);
    written += produced;
    src = src.subarray(consumed);
    if (src.length === 0 && (endOp === zstd.EndDirective.continue || remaining === 0)) return written;
    // The capacity is zstd's bound for the input and a held block: only a wrong caller gets here.
    if (written === dst.length) throw new Error(`zstd: ${dst.length} bytes of output room were not enough`);
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
    cctx.setParameter(zstd.CParameter.compressionLevel, m.params.level);
    cctx.setParameter(zstd.CParameter.windowLog, m.params.windowLog);
    cctx.setParameter(zstd.CParameter.targetLength, m.params.targetLength);
    cctx.setParameter(LITERAL_COMPRESSION_MODE, PARAM_SWITCH_ENABLE);
    contexts.set(m.id, { cctx, memory: m.memory });
    return null;
  }
  if (m.op === 'close') {
    contexts.delete(m.id);
    return null;
  }
  const stream = contexts.get(m.stream);
  if (!stream) throw new Error(`zstd stream ${m.stream} is not open`);
  const { cctx, memory } = stream;
  const endOp = m.end ? zstd.EndDirective.end : zstd.EndDirective.continue;
  const written = compressInto(
    cctx,
    new Uint8Array(memory, m.output, m.capacity),
    new Uint8Array(memory, m.input, m.length),
    endOp,
  );
  if (m.end) contexts.delete(m.stream);
  return { body: written };
});

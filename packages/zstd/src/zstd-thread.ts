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
  | { id: number; op: 'compress'; params: ZstdStreamParams; data: Uint8Array }
  /**
   * One-shot within the process's shared page memory (`memory`, sent once:
   * a thread that has none answers NO_SHARED_MEMORY): `[input, input +
   * length)` as one frame at `output`; answers the frame's size.
   */
  | {
      id: number;
      op: 'compressShared';
      params: ZstdStreamParams;
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

/** A context for `params`, literals Huffman-coded whatever the match finder. */
function newContext(params: ZstdStreamParams): zstd.CCtx {
  const cctx = new zstd.CCtx();
  cctx.setParameter(zstd.CParameter.compressionLevel, params.level);
  cctx.setParameter(zstd.CParameter.windowLog, params.windowLog);
  cctx.setParameter(zstd.CParameter.targetLength, params.targetLength);
  cctx.setParameter(LITERAL_COMPRESSION_MODE, PARAM_SWITCH_ENABLE);
  return cctx;
}

/** One context per set of params for one-shot requests, and one output buffer reused by all. */
const oneShot = new Map<string, zstd.CCtx>();
let scratch = Buffer.allocUnsafe(0);

let shared: SharedArrayBuffer | null = null;

function oneShotContext(params: ZstdStreamParams): zstd.CCtx {
  const key = `${params.level}/${params.windowLog}/${params.targetLength}`;
  let cctx = oneShot.get(key);
  if (!cctx) {
    cctx = newContext(params);
    oneShot.set(key, cctx);
  }
  return cctx;
}

function compressFrame(params: ZstdStreamParams, src: Uint8Array): Uint8Array {
  const cctx = oneShotContext(params);
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
    return { body: oneShotContext(m.params).compress2(dst, src) };
  }
  if (m.op === 'compress') {
    const frame = compressFrame(m.params, m.data);
    return { body: frame, transfer: [frame.buffer as ArrayBuffer] };
  }
  if (m.op === 'open') {
    contexts.set(m.id, { cctx: newContext(m.params), memory: m.memory });
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

/**
 * The script of the zstd compression thread (see zstd-stream.ts): one
 * compression context per open stream. zstd-napi compresses synchronously,
 * so on the main thread it would stop the event loop that reads ClickHouse
 * and feeds the upload.
 */
import { parentPort } from 'node:worker_threads';
import * as zstd from 'zstd-napi/binding';
import { serveRequests } from './thread-channel';

export type ZstdRequest =
  | { id: number; op: 'open'; level: number }
  | { id: number; op: 'write'; data: Uint8Array }
  | { id: number; op: 'end' }
  | { id: number; op: 'close' };

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

serveRequests<ZstdRequest>(parentPort!, (m) => {
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

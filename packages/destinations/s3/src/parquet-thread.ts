/**
 * The script of the Parquet thread (see parquet-stream.ts): encoding and
 * column compression are most of a Parquet export's CPU, so they run beside
 * the main thread, which reads ClickHouse and uploads. Each open file has an
 * encoder; the file's bytes go back as events, each acknowledged once the
 * upload took it (back-pressure).
 */
import { EventBatch } from '@bx/core';
import { parentPort } from 'node:worker_threads';
import { ParquetEncoder, type ParquetCompression } from './parquet-encoder';
import { serveRequests } from './thread-channel';

export type ParquetRequest =
  | { id: number; op: 'open'; compression: ParquetCompression }
  | { id: number; op: 'write'; bytes: Uint8Array; index: Int32Array; count: number }
  | { id: number; op: 'finish' }
  | { id: number; op: 'ack' }
  | { id: number; op: 'close' };

/** What a write or finish answers: bytes of the file handed to the upload so far. */
export interface ParquetProgress {
  bytes: number;
}

const port = parentPort!;
const files = new Map<number, ParquetEncoder>();
/** Per file: the chunk waiting for the main thread's acknowledgement. */
const acks = new Map<number, () => void>();

function sink(id: number) {
  return (chunk: Buffer) =>
    new Promise<void>((resolve) => {
      acks.set(id, resolve);
      // The encoder's chunks own their buffer: transferred as they are, not copied.
      const own = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
      const body = own ? chunk : new Uint8Array(chunk);
      port.postMessage({ id, kind: 'event', body }, [body.buffer as ArrayBuffer]);
    });
}

// Acknowledgements bypass the per-file queue: the write they unblock is in it.
port.on('message', (m: ParquetRequest) => {
  if (m.op !== 'ack') return;
  const resolve = acks.get(m.id);
  acks.delete(m.id);
  resolve?.();
});

serveRequests<ParquetRequest>(port, async (m) => {
  switch (m.op) {
    case 'open':
      files.set(m.id, await ParquetEncoder.create(m.compression, sink(m.id)));
      return null;
    case 'write': {
      const encoder = files.get(m.id);
      if (!encoder) throw new Error(`Parquet file ${m.id} is not open`);
      const bytes = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
      await encoder.write(new EventBatch(bytes, m.index, m.count));
      return { body: { bytes: encoder.bytes } satisfies ParquetProgress };
    }
    case 'finish': {
      const encoder = files.get(m.id);
      if (!encoder) throw new Error(`Parquet file ${m.id} is not open`);
      await encoder.finish();
      files.delete(m.id);
      return { body: { bytes: encoder.bytes } satisfies ParquetProgress };
    }
    case 'close':
      files.delete(m.id);
      acks.delete(m.id);
      return null;
    case 'ack':
      return null;
  }
});

import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ReceiptChecksum, type IntervalReadBack, type ReadBackRequest } from '@bx/core';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { brotliDecompressSync, createBrotliDecompress, createGunzip, gunzipSync } from 'node:zlib';
import { DecompressStream, decompress as zstdDecompress } from 'zstd-napi';
import { intervalStem } from './object-key';
import { createS3Client } from './s3-client';
import type { S3Config } from './s3-config';
import { classifyS3Error } from './s3-errors';

/**
 * Reads back what S3 holds of each interval (`npm run verify`): every data
 * object under the interval's stem, whatever format and codec wrote it
 * (JSON Lines plain, gzip, brotli or zstd; Parquet with any codec), each
 * record hashed by the model's receipt key as a receipt is (events: uuid;
 * persons: distinct_id); and the receipt object's version. JSON Lines
 * objects are streamed line by line; of a Parquet object only the footer
 * and the key column are fetched (ranged GETs), through hyparquet.
 */
export async function readBackS3(
  config: S3Config,
  request: ReadBackRequest,
  client: S3Client = createS3Client(config, request.network),
): Promise<Map<number, IntervalReadBack>> {
  const out = new Map<number, IntervalReadBack>();
  const key = request.model?.receipt.key ?? 'uuid';
  try {
    for (const span of request.spans) {
      const stem = intervalStem(config, span);
      const checksum = new ReceiptChecksum();
      let receiptVersion: number | null = null;
      for (const object of await listObjects(client, config.bucket_name, stem, request.signal)) {
        const rest = object.key.slice(stem.length);
        if (rest === '_receipt.json') {
          const receipt = JSON.parse((await text(await get(client, config.bucket_name, object.key))) || '{}');
          receiptVersion = typeof receipt.version === 'number' ? receipt.version : null;
        } else if (/^(-\d+)?\.parquet$/.test(rest)) {
          await parquetKeys(client, config.bucket_name, object, key, checksum);
        } else if (/^(-\d+)?\.jsonl(\.(gz|br|zst))?$/.test(rest)) {
          await jsonLinesKeys(await get(client, config.bucket_name, object.key), object.key, key, checksum);
        }
        // Anything else (the manifest, another interval whose stem shares this prefix) holds no rows of this one.
      }
      out.set(span.start, { records: checksum.count, checksum: checksum.toString(), receiptVersion });
    }
    return out;
  } catch (err) {
    throw classifyS3Error(err, 'read back');
  } finally {
    client.destroy();
  }
}

interface Listed {
  key: string;
  size: number;
}

async function listObjects(client: S3Client, bucket: string, prefix: string, signal?: AbortSignal): Promise<Listed[]> {
  const out: Listed[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      {
        abortSignal: signal,
      },
    );
    for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

async function get(client: S3Client, bucket: string, key: string, range?: string): Promise<Readable> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
  return res.Body as Readable;
}

async function text(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Adds the `field` (the receipt key) of every line of a JSON Lines object, decompressed as its extension says. */
async function jsonLinesKeys(body: Readable, key: string, field: string, checksum: ReceiptChecksum): Promise<void> {
  const decoded = key.endsWith('.gz')
    ? body.pipe(createGunzip())
    : key.endsWith('.br')
      ? body.pipe(createBrotliDecompress())
      : key.endsWith('.zst')
        ? body.pipe(new DecompressStream())
        : body;
  body.on('error', (err) => decoded.destroy(err));
  for await (const line of createInterface({ input: decoded, crlfDelay: Infinity })) {
    if (line === '') continue;
    const value = (JSON.parse(line) as Record<string, unknown>)[field];
    if (typeof value !== 'string') throw new Error(`${key}: a line without a ${field}`);
    checksum.add(value);
  }
}

/** hyparquet's decompressors beyond its own snappy: Node's gzip and brotli, zstd-napi's zstd. */
const COMPRESSORS = {
  GZIP: (input: Uint8Array) => new Uint8Array(gunzipSync(input)),
  BROTLI: (input: Uint8Array) => new Uint8Array(brotliDecompressSync(input)),
  ZSTD: (input: Uint8Array) => new Uint8Array(zstdDecompress(input)),
};

/** Adds the `field` column (the receipt key) of a Parquet object, read through ranged GETs. */
async function parquetKeys(
  client: S3Client,
  bucket: string,
  object: Listed,
  field: string,
  checksum: ReceiptChecksum,
): Promise<void> {
  const { parquetRead } = await import('hyparquet');
  const file = {
    byteLength: object.size,
    slice: async (start: number, end = object.size): Promise<ArrayBuffer> => {
      const body = await get(client, bucket, object.key, `bytes=${start}-${end - 1}`);
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    },
  };
  await parquetRead({
    file,
    columns: [field],
    compressors: COMPRESSORS,
    onChunk: (chunk) => {
      for (const value of chunk.columnData) {
        if (typeof value !== 'string') throw new Error(`${object.key}: a row without a ${field}`);
        checksum.add(value);
      }
    },
  });
}

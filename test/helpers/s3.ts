import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'zstd-napi';
import { parseInput } from '@bx/core';
import { s3ConfigSchema, type S3Config } from '@bx/destination-s3';
import { S3_CREDENTIALS, testEnv, uniqueName } from './env';

/** An export's S3 config for `bucket` on the test S3 server, as the API would store it. */
export function s3TestConfig(bucket: string, fields: Partial<S3Config> = {}): S3Config {
  return s3WriterConfig({
    bucket_name: bucket,
    endpoint_url: testEnv.S3_ENDPOINT_URL,
    ...S3_CREDENTIALS,
    ...fields,
  });
}

/**
 * `fields` parsed as the API parses them, but for `max_file_size_mb`, set
 * after: writer tests split a few MB of rows into files far smaller than
 * the API takes (MAX_FILE_SIZE_MB.min), to see many files.
 */
export function s3WriterConfig(fields: Partial<S3Config> & Record<string, unknown>): S3Config {
  const { max_file_size_mb: size, ...rest } = fields;
  const config = parseInput(s3ConfigSchema, rest);
  return size === undefined ? config : { ...config, max_file_size_mb: size };
}

export function testS3Client(): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: testEnv.S3_ENDPOINT_URL,
    forcePathStyle: true,
    credentials: {
      accessKeyId: S3_CREDENTIALS.aws_access_key_id,
      secretAccessKey: S3_CREDENTIALS.aws_secret_access_key,
    },
  });
}

/** Buckets this test process created, deleted after the run (see `deleteCreatedBuckets`). */
const createdBuckets = new Set<string>();

export async function createBucket(client: S3Client): Promise<string> {
  const bucket = uniqueName('bx-test');
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  createdBuckets.add(bucket);
  return bucket;
}

/**
 * Empties and deletes every bucket `createBucket` made in this process, so
 * that repeated local runs do not fill the S3 server's directory (gigabytes
 * after a few dozen). BX_KEEP_TEST_BUCKETS=1 keeps them to look at.
 */
export async function deleteCreatedBuckets(): Promise<void> {
  if (createdBuckets.size === 0 || process.env.BX_KEEP_TEST_BUCKETS === '1') return;
  const client = testS3Client();
  try {
    for (const bucket of createdBuckets) {
      for (const key of await listKeys(client, bucket)) {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      }
      // s3rver removes the bucket's directory, unfinished multipart uploads included.
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      createdBuckets.delete(bucket);
    }
  } finally {
    client.destroy();
  }
}

export async function listKeys(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys.sort();
}

export async function getObject(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

/** Decompresses by the key's extension and parses each JSON line. */
export async function readJsonLines(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<Array<Record<string, unknown>>> {
  let data = await getObject(client, bucket, key);
  if (key.endsWith('.gz')) data = gunzipSync(data);
  else if (key.endsWith('.br')) data = brotliDecompressSync(data);
  else if (key.endsWith('.zst')) data = zstdDecompress(data);
  const text = data.toString('utf8');
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`${key} does not end with a newline`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

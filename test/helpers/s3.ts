import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'zstd-napi';
import { S3_CREDENTIALS, testEnv, uniqueName } from './env';

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

export async function createBucket(client: S3Client): Promise<string> {
  const bucket = uniqueName('bx-test');
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
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

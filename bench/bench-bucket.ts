import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

/** Creates `bucket` on the local S3 server (s3rver's account) if missing; returns the S3 config fields of an export writing there. */
export async function benchBucket(endpoint: string, bucket: string): Promise<Record<string, string>> {
  const credentials = { aws_access_key_id: 'S3RVER', aws_secret_access_key: 'S3RVER' };
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: credentials.aws_access_key_id, secretAccessKey: credentials.aws_secret_access_key },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined);
  s3.destroy();
  return { bucket_name: bucket, endpoint_url: endpoint, ...credentials };
}

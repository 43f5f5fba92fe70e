import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DestinationCheckOptions } from '@bx/core';
import { objectKey } from './object-key';
import { createS3Client, encryptionParams } from './s3-client';
import type { S3Config } from './s3-config';
import { classifyS3Error } from './s3-errors';

/**
 * Writes and deletes a small object with the export's credentials, under the
 * export's prefix (POST /api/exports/:id/test). Loads the S3 client only, not
 * the writer.
 */
export async function checkS3(
  config: S3Config,
  { signal }: DestinationCheckOptions = {},
  client: S3Client = createS3Client(config),
): Promise<void> {
  const key = `${objectKey(config, { start: 0, end: 0 }).replace(/[^/]*$/, '')}batch-export-test-${Date.now()}.txt`;
  try {
    await client.send(
      new PutObjectCommand({ Bucket: config.bucket_name, Key: key, Body: 'ok', ...encryptionParams(config) }),
      { abortSignal: signal },
    );
    await client.send(new DeleteObjectCommand({ Bucket: config.bucket_name, Key: key }), { abortSignal: signal });
  } catch (err) {
    throw classifyS3Error(err, 'test');
  }
}

import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { RetryableError, type DestinationCheckOptions } from '@bx/core';
import { objectKey } from './object-key';
import { createS3Client, encryptionParams } from './s3-client';
import type { S3Config } from './s3-config';
import { classifyS3Error } from './s3-errors';

/** Time the check has, in ms: the API answers POST /api/exports/:id/test within 30 s. */
export const CHECK_DEADLINE_MS = 20_000;

/**
 * Writes and deletes a small object with the export's credentials, under the
 * export's prefix (POST /api/exports/:id/test), within CHECK_DEADLINE_MS
 * whatever the endpoint does. Loads the S3 client only, not the writer.
 */
export async function checkS3(
  config: S3Config,
  { signal, network }: DestinationCheckOptions = {},
  client: S3Client = createS3Client(config, network),
): Promise<void> {
  const key = `${objectKey(config, { start: 0, end: 0 }).replace(/[^/]*$/, '')}batch-export-test-${Date.now()}.txt`;
  const deadline = new AbortController();
  const timer = setTimeout(
    () =>
      deadline.abort(new RetryableError(`S3 did not answer within ${CHECK_DEADLINE_MS / 1000} s`, { code: 'Timeout' })),
    CHECK_DEADLINE_MS,
  );
  const abortSignal = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  try {
    await client.send(
      new PutObjectCommand({ Bucket: config.bucket_name, Key: key, Body: 'ok', ...encryptionParams(config) }),
      { abortSignal },
    );
    await client.send(new DeleteObjectCommand({ Bucket: config.bucket_name, Key: key }), { abortSignal });
  } catch (err) {
    throw classifyS3Error(err, 'test');
  } finally {
    clearTimeout(timer);
  }
}

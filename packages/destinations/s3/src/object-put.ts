import { PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';

/** PutObject's input for an object sent in one request: its bytes at hand. */
export type PutInput = PutObjectCommandInput & { Bucket: string; Key: string; Body: Uint8Array | string };

/**
 * Sends one object that fits in one request (PutObject), under `abortSignal`.
 * Either the SDK's command (`sdkPut`) or the lean path (`LeanPut`), which
 * writes the same object with the same headers.
 */
export type ObjectPut = (input: PutInput, abortSignal?: AbortSignal) => Promise<void>;

/** PutObject through the SDK client. */
export function sdkPut(client: S3Client): ObjectPut {
  return async (input, abortSignal) => {
    await client.send(new PutObjectCommand(input), abortSignal ? { abortSignal } : undefined);
  };
}

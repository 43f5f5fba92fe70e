import type { DestinationWriter } from '@bx/batch';
import { endpointOfUrl, type DestinationPlugin } from '@bx/core';
import { s3ConfigSchema, type S3Config } from './s3-config';

/**
 * The S3 destination as the registry sees it (entry point
 * `@bx/destination-s3/plugin`). This module loads zod and core only: the check loads
 * the S3 client, the writer the rest (zstd, Parquet, the native addon), the read-back
 * (npm run verify) the client, the codecs and hyparquet.
 */
export const s3Plugin: DestinationPlugin<S3Config, DestinationWriter> = {
  type: 'S3',
  configSchema: s3ConfigSchema,
  secretFields: ['aws_secret_access_key'],
  connectionFields: ['endpoint_url', 'bucket_name', 'region'],
  // The custom endpoint, or AWS's virtual-hosted one for the bucket.
  endpoints: (config) => [
    endpointOfUrl(config.endpoint_url ?? `https://${config.bucket_name}.s3.${config.region}.amazonaws.com`),
  ],
  check: (config, opts) => (require('./s3-check') as typeof import('./s3-check')).checkS3(config, opts),
  createWriter: (config, opts) =>
    new (require('./s3-destination') as typeof import('./s3-destination')).S3Destination(config, undefined, opts),
  readBack: (config, request) =>
    (require('./s3-read-back') as typeof import('./s3-read-back')).readBackS3(config, request),
  // Each interval's records are objects of their own, whatever the model.
  readsBackUpserts: true,
};

import { destinationUrl } from '@bx/core';
import { z } from 'zod';
import { S3_KEY_MAX_BYTES, longestKeyBytes } from './object-key';
import { prefixTemplateErrors } from './prefix-template';

export const JSONL_COMPRESSIONS = ['gzip', 'brotli', 'zstd'] as const;
export const PARQUET_COMPRESSIONS = ['zstd', 'snappy', 'gzip', 'brotli'] as const;
/** Every codec of either format: the schema's closed set (forms list it). */
const CODECS = ['gzip', 'brotli', 'zstd', 'snappy'] as const;

const text = (max = 1024) => z.string().min(1).max(max);

/** The config of an S3 destination (contract: S3 destination). */
export const s3ConfigSchema = z
  .strictObject({
    /** Bucket; a DNS-compatible name. */
    bucket_name: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        'must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)',
      ),
    /** AWS region. Default `us-east-1`. */
    region: text(64).default('us-east-1'),
    /** Key prefix template, e.g. `events/{year}/{month}/{day}`. Default empty. */
    prefix: z.string().max(1024).default(''),
    /** Custom endpoint for S3-compatible stores (MinIO, R2); path-style addressing. */
    endpoint_url: destinationUrl().nullable().optional(),
    aws_access_key_id: text(),
    aws_secret_access_key: text(),
    /** `JSONLines` (default) or `Parquet`. */
    file_format: z.enum(['JSONLines', 'Parquet']).default('JSONLines'),
    /** Codec; which are allowed depends on file_format (checked below). Default null (none). */
    compression: z.enum(CODECS).nullable().default(null),
    /** Split a run into files of about this many MB (compressed). Default: one file. */
    max_file_size_mb: z.number().positive().max(1_000_000).nullable().optional(),
    /** Server-side encryption. Default none. */
    encryption: z.enum(['AES256', 'aws:kms']).nullable().optional(),
    /** KMS key for `aws:kms`. */
    kms_key_id: text().nullable().optional(),
  })
  .superRefine((config, ctx) => {
    const allowed: readonly string[] = config.file_format === 'Parquet' ? PARQUET_COMPRESSIONS : JSONL_COMPRESSIONS;
    if (config.compression !== null && !allowed.includes(config.compression)) {
      ctx.addIssue({
        code: 'custom',
        path: ['compression'],
        message: `compression '${config.compression}' is not supported with file_format ${config.file_format}; use one of ${allowed.join(', ')} or null`,
      });
    }
    const prefixErrors = prefixTemplateErrors(config.prefix);
    for (const message of prefixErrors) ctx.addIssue({ code: 'custom', path: ['prefix'], message });
    const longest = prefixErrors.length ? 0 : longestKeyBytes(config);
    if (longest > S3_KEY_MAX_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['prefix'],
        message:
          `renders object keys of up to ${longest} bytes (each variable at its longest, then /<start>-<end> and ` +
          `the longest suffix), over S3's limit of 1,024; shorten it by ${longest - S3_KEY_MAX_BYTES} bytes or more`,
      });
    }
    if (config.kms_key_id && config.encryption !== 'aws:kms') {
      ctx.addIssue({ code: 'custom', path: ['kms_key_id'], message: "kms_key_id needs encryption 'aws:kms'" });
    }
  });

export type S3Config = z.infer<typeof s3ConfigSchema>;

import { destinationUrl } from '@bx/core';
import { z } from 'zod';
import { S3_KEY_MAX_BYTES, longestKeyBytes } from './object-key';
import { prefixTemplateErrors } from './prefix-template';

export const JSONL_COMPRESSIONS = ['gzip', 'brotli', 'zstd'] as const;
export const PARQUET_COMPRESSIONS = ['zstd', 'snappy', 'gzip', 'brotli'] as const;
/** Every codec of either format: the schema's closed set (forms list it). */
const CODECS = ['gzip', 'brotli', 'zstd', 'snappy'] as const;

const text = (max = 1024) => z.string().min(1).max(max);

/**
 * Bounds of `max_file_size_mb`, in MiB. A file is one multipart upload of
 * PART_SIZE (8 MiB) parts and S3 takes 10,000 parts: 80,000 MiB, which a
 * file passing its limit by a quarter (the most it does) stays within at
 * 64,000. Below 1 a run turns into a file per batch slice, down to a row:
 * a PUT each, and a manifest line (PostHog's field is a whole number of MB).
 */
export const MAX_FILE_SIZE_MB = { min: 1, max: 64_000 } as const;
const fileSizeMessage = `must be from ${MAX_FILE_SIZE_MB.min} to ${MAX_FILE_SIZE_MB.max} (MB), or null for one file per interval`;

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
    /** Split a run into files of about this many MB (compressed), 1 to 64,000. Default: one file. */
    max_file_size_mb: z
      .number()
      .min(MAX_FILE_SIZE_MB.min, fileSizeMessage)
      .max(MAX_FILE_SIZE_MB.max, fileSizeMessage)
      .nullable()
      .optional()
      .describe(
        `Split an interval into files of about this many MB, ${MAX_FILE_SIZE_MB.min} to ${MAX_FILE_SIZE_MB.max}; null: one file`,
      ),
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

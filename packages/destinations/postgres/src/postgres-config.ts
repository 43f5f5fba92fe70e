import { RECEIPTS_TABLE_TAKEN, notReceiptsTable } from '@bx/core';
import { z } from 'zod';

/** A PostgreSQL name: at most 63 bytes (longer ones are cut silently by the server), no control characters. */
const pgName = z
  .string()
  .min(1)
  .refine((v) => Buffer.byteLength(v) <= 63, 'must be at most 63 bytes (PostgreSQL cuts longer names)')
  .refine((v) => ![...v].some((c) => c < ' ' || c === '\u007f'), 'must not contain control characters');

export const postgresConfigSchema = z
  .strictObject({
    /** Server host name or IP address (no scheme, no port). */
    host: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9._:[\]-]+$/, 'must be a host name or IP address, without scheme or port'),
    /** Server port. Default 5432. */
    port: z.number().int().min(1).max(65535).default(5432),
    database: pgName,
    user: pgName,
    /** Secret: never returned by the API nor logged. */
    password: z.string().min(1).max(1024),
    /** Schema of the table; must exist. Default `public`. */
    schema: pgName.default('public'),
    /** The events table; created if missing. Not `batch_export_receipts`, the receipts table beside it. */
    table_name: pgName.refine(notReceiptsTable, RECEIPTS_TABLE_TAKEN),
    /** `disable`, `require` (encrypted, certificate not checked) or `verify-full` (default: a trusted certificate for `host`). */
    sslmode: z.enum(['disable', 'require', 'verify-full']).default('verify-full'),
    /** PEM certificate(s) to trust instead of the system's CAs (a self-signed server); with `require`, the chain is checked but not the host name. */
    ca_cert: z
      .string()
      .max(65_536)
      .regex(/-----BEGIN CERTIFICATE-----/, 'must be a PEM certificate')
      .nullable()
      .optional(),
  })
  .superRefine((config, ctx) => {
    if (config.ca_cert && config.sslmode === 'disable') {
      ctx.addIssue({ code: 'custom', path: ['ca_cert'], message: "ca_cert needs sslmode 'require' or 'verify-full'" });
    }
  });

export type PostgresConfig = z.infer<typeof postgresConfigSchema>;

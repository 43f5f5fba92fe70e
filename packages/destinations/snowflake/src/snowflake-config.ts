import { RECEIPTS_TABLE_TAKEN, destinationUrl, notReceiptsTable } from '@bx/core';
import { z } from 'zod';

const text = (max = 1024) => z.string().min(1).max(max);

/** The config of a Snowflake destination (contract: Snowflake destination). */
export const snowflakeConfigSchema = z
  .strictObject({
    account: text(255),
    user: text(255),
    /** Password authentication; or use `private_key`. */
    password: text().nullable().optional(),
    /** PKCS#8 PEM private key for key-pair authentication. */
    private_key: z.string().min(1).max(16_384).nullable().optional(),
    private_key_passphrase: text().nullable().optional(),
    database: text(255),
    schema: text(255),
    warehouse: text(255),
    /** The events table (quoted: case-sensitive); not `batch_export_receipts`, the receipts table beside it. */
    table_name: text(255).refine(notReceiptsTable, RECEIPTS_TABLE_TAKEN),
    role: text(255).nullable().optional(),
    /** The SDK's `accessUrl`: a private-link or other custom endpoint. */
    access_url: destinationUrl().nullable().optional(),
  })
  .superRefine((config, ctx) => {
    if (!config.password && !config.private_key) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'one of password or private_key is required' });
    }
  });

export type SnowflakeConfig = z.infer<typeof snowflakeConfigSchema>;

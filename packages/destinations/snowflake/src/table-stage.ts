import { RetryableError } from '@bx/core';
import type { SpooledFile } from './zstd-file-spool';
import type { SnowflakeSession } from './snowflake-session';
import { putSource, tableStage } from './sql-text';

interface PutResult {
  source?: string;
  status?: string;
  message?: string;
}

/**
 * Uploads one local zstd file into the table's stage folder. The file is
 * compressed already, so the SDK must not compress it again; OVERWRITE
 * because a file of the same name in this attempt's folder can only be our
 * own.
 */
export async function putFile(
  session: SnowflakeSession,
  table: string,
  folder: string,
  file: SpooledFile,
): Promise<void> {
  const rows = await session.query<PutResult>(
    `PUT ${putSource(file.path)} ${tableStage(table, folder)} AUTO_COMPRESS = FALSE SOURCE_COMPRESSION = ZSTD OVERWRITE = TRUE`,
    'PUT',
  );
  const row = rows.find((r) => r.source === file.name) ?? rows[0];
  if (row?.status !== 'UPLOADED') {
    throw new RetryableError(
      `Snowflake PUT of ${file.name} did not upload: ${row?.status ?? 'no result'}${row?.message ? ` (${row.message})` : ''}`,
      { code: 'PutFailed' },
    );
  }
}

/** Removes every staged file under a folder of the table's stage. */
export async function removeStaged(session: SnowflakeSession, table: string, folder: string): Promise<number> {
  return (await session.query(`REMOVE ${tableStage(table, folder)}`, 'REMOVE')).length;
}

import type { ModelPlugin, RecordColumn } from '@bx/core';
import type { BatchFormat } from '@bx/batch';
import { buildPersonsChecksumsQuery } from './persons-checksums-query';
import { buildPersonsQuery, PERSONS_QUERY_SETTINGS } from './persons-query';

/** The persons record (contract: Models), in record order; the query selects them so. */
export const PERSON_COLUMNS: readonly RecordColumn[] = [
  { name: 'team_id', type: 'int64' },
  { name: 'distinct_id', type: 'string' },
  { name: 'person_id', type: 'uuid' },
  { name: 'properties', type: 'json' },
  { name: 'person_version', type: 'uint64' },
  { name: 'person_distinct_id_version', type: 'int64' },
  { name: 'created_at', type: 'timestamp', nullable: true },
  { name: 'is_deleted', type: 'boolean' },
  { name: '_inserted_at', type: 'timestamp' },
];

let format: BatchFormat | undefined;

/**
 * The persons model: who each distinct_id is now. One record per
 * (team_id, distinct_id) whose mapping or current person changed in the
 * interval (see buildPersonsQuery). S3 appends them (consumers keep, per
 * key, the record with the highest versions); table destinations upsert on
 * the key and change a stored row only where the incoming versions are
 * higher (contract: Models), compared in order:
 *
 * 1. the mapping's: a distinct_id that moved to another person must not move
 *    back because the old person has a higher version;
 * 2. the person's.
 *
 * At equal versions a stored row changes only if it is a placeholder: a
 * distinct_id exported before its person had a row (`{}`, version 0,
 * created_at NULL), replaced by the same one once the person's first row
 * (version 0 too) arrived. A person row written again at its version (a
 * replay, later `_timestamp`) changes nothing stored.
 *
 * A run's receipt counts its records; its checksum sums sipHash64 of each
 * distinct_id, its bounds are those of `_inserted_at`.
 */
export const personsModel: ModelPlugin<BatchFormat> = {
  name: 'persons',
  table: 'persons',
  columns: PERSON_COLUMNS,
  load: {
    kind: 'upsert',
    key: ['team_id', 'distinct_id'],
    versions: ['person_distinct_id_version', 'person_version'],
    placeholder: 'created_at',
  },
  // A record's identity within the team is its distinct_id (the upsert key's other half).
  receipt: { key: 'distinct_id', time: '_inserted_at' },
  eventFilters: false,
  query: (q) => ({
    sql: buildPersonsQuery({
      database: q.config.CLICKHOUSE_DATABASE,
      personsTable: q.config.PERSONS_TABLE,
      distinctIdsTable: q.config.PERSON_DISTINCT_IDS_TABLE,
      teamId: q.teamId,
      start: q.start,
      end: q.end,
    }),
    settings: PERSONS_QUERY_SETTINGS,
  }),
  intervalChecksums: (q) => ({
    sql: buildPersonsChecksumsQuery({
      database: q.config.CLICKHOUSE_DATABASE,
      personsTable: q.config.PERSONS_TABLE,
      distinctIdsTable: q.config.PERSON_DISTINCT_IDS_TABLE,
      teamId: q.teamId,
      spans: q.spans,
      interval: q.interval,
      keyAsText: q.keyAsText,
    }),
    settings: PERSONS_QUERY_SETTINGS,
  }),
  // The data path, loaded on first use: the API lists models without it.
  format: () => (format ??= (require('@bx/batch') as typeof import('@bx/batch')).columnFormat(PERSON_COLUMNS)),
};

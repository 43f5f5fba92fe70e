import { EVENTS_SCHEMA, type ModelPlugin } from '@bx/core';
import type { BatchFormat } from '@bx/batch';
import { buildEventsQuery } from './events-query';

/**
 * The events model: one record per event ingested in the interval
 * (contract: S3 JSONLines record). Table destinations replace the team's
 * rows of the interval, found by `inserted_at`, so that each event is there
 * once however often the interval runs. Its batches are EventBatch, whose
 * records are written in C.
 */
export const eventsModel: ModelPlugin<BatchFormat> = {
  ...EVENTS_SCHEMA,
  eventFilters: true,
  query: (q) => ({
    sql: buildEventsQuery({
      database: q.config.CLICKHOUSE_DATABASE,
      table: q.config.EVENTS_TABLE,
      intervalColumn: q.config.EVENTS_INTERVAL_COLUMN,
      teamId: q.teamId,
      start: q.start,
      end: q.end,
      includeEvents: q.includeEvents,
      excludeEvents: q.excludeEvents,
    }),
  }),
  // The data path, loaded on first use: the API lists models without it.
  format: () => (require('@bx/batch') as typeof import('@bx/batch')).EVENTS_FORMAT,
};

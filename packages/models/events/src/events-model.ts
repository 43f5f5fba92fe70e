import { EVENTS_SCHEMA, type ModelPlugin, type ModelQueryInput } from '@bx/core';
import type { BatchFormat } from '@bx/batch';
import { buildEventsQuery, eventsLayout, type EventsQuery } from './events-query';

/** The data path, loaded on first use: the API lists models without it. */
const batch = () => require('@bx/batch') as typeof import('@bx/batch');

function eventsQuery(q: ModelQueryInput, teams?: readonly number[]): EventsQuery {
  return {
    database: q.config.CLICKHOUSE_DATABASE,
    table: q.config.EVENTS_TABLE,
    intervalColumn: q.config.EVENTS_INTERVAL_COLUMN,
    teamId: q.teamId,
    teams,
    start: q.start,
    end: q.end,
    includeEvents: q.includeEvents,
    excludeEvents: q.excludeEvents,
  };
}

/**
 * The events model: one record per event ingested in the interval
 * (contract: S3 JSONLines record). Table destinations replace the team's
 * rows of the interval, found by the column the query bounds it by
 * (EVENTS_INTERVAL_COLUMN, `inserted_at` by default), so that each event is there
 * once however often the interval runs. Its batches are EventBatch, whose
 * records are written in C. The worker reads the UUIDs and timestamps
 * binary where the table stores them as UUID, DateTime or DateTime64
 * (`typedColumns`, see eventsLayout); `query` reads them as text. Runs of
 * several teams may share one query (`teams`): `team_id IN (...)`.
 */
export const eventsModel: ModelPlugin<BatchFormat> = {
  ...EVENTS_SCHEMA,
  eventFilters: true,
  query: (q) => ({ sql: buildEventsQuery(eventsQuery(q)) }),
  format: () => batch().EVENTS_FORMAT,
  typedColumns: {
    table: (config) => ({ database: config.CLICKHOUSE_DATABASE, table: config.EVENTS_TABLE }),
    read: (q, types) => {
      const layout = eventsLayout(types);
      return { query: { sql: buildEventsQuery(eventsQuery(q), layout, types) }, format: batch().eventsFormat(layout) };
    },
  },
  intervalColumn: (config) => config.EVENTS_INTERVAL_COLUMN,
  teams: {
    column: 'team_id',
    query: (q, teams, types) =>
      types
        ? { sql: buildEventsQuery(eventsQuery(q, teams), eventsLayout(types), types) }
        : { sql: buildEventsQuery(eventsQuery(q, teams)) },
  },
};

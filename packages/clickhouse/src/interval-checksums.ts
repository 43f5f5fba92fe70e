import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import {
  PermanentError,
  RetryableError,
  errorMessage,
  type BatchExport,
  type ModelPlugin,
  type ModelSourceConfig,
  type SourceQuery,
  type Span,
} from '@bx/core';
import type { ClickHouseConfig } from './clickhouse-ping';
import {
  buildGridChecksumsQuery,
  buildIntervalChecksumsQuery,
  gridOf,
  intervalExpression,
  type EventsTable,
  type ExportIntervals,
  type IntervalChecksum,
  type IntervalChecksumsQuery,
} from './interval-checksums-sql';
import { serverErrorCode } from './server-error-code';

export * from './interval-checksums-sql';

/** Intervals per query: the CASE of the grouping key grows with them. */
const SPANS_PER_QUERY = 500;
/** Teams per shared query (`team_id IN (...)`). */
const TEAMS_PER_QUERY = 200;
/** Shared queries of one `ofExports` call at once. */
const PARALLEL_QUERIES = 4;

/** The model of an export by name (the models' registry: modelPlugin), for models other than events. */
export type ModelLookup = (name: string) => Pick<ModelPlugin, 'name' | 'intervalChecksums'>;

/** Where the models' source tables are. */
export type SourceTables = EventsTable &
  Partial<Pick<ModelSourceConfig, 'PERSONS_TABLE' | 'PERSON_DISTINCT_IDS_TABLE'>>;

/**
 * Counts and checksums of intervals in the source, read with the plain
 * ClickHouse client: the reconciler (scheduler role) and `npm run verify`
 * use it, so it loads no native code (entry point
 * `@bx/clickhouse/checksums`). Events are counted here (teams on one grid
 * share queries); another model by its plug-in's `intervalChecksums`.
 */
export class IntervalChecksums {
  private readonly client: ClickHouseClient;

  static fromConfig(config: ClickHouseConfig, models?: ModelLookup): IntervalChecksums {
    return new IntervalChecksums(
      createClient({
        url: config.CLICKHOUSE_URL,
        username: config.CLICKHOUSE_USER,
        password: config.CLICKHOUSE_PASSWORD,
        request_timeout: config.CLICKHOUSE_QUERY_TIMEOUT_MS,
        compression: { response: false, request: false },
        log: { level: ClickHouseLogLevel.OFF },
      }),
      models,
    );
  }

  constructor(
    client: ClickHouseClient,
    private readonly models?: ModelLookup,
  ) {
    this.client = client;
  }

  /** Per interval start (epoch ms), what the source holds; an interval without rows has no entry. */
  byInterval(q: IntervalChecksumsQuery, signal?: AbortSignal): Promise<Map<number, IntervalChecksum>> {
    return this.grouped(q.spans, (spans) => buildIntervalChecksumsQuery({ ...q, spans }), signal);
  }

  /** The answers of a grouped query (`bx_interval`, `bx_records`, `bx_checksum`) of up to 500 spans at a time. */
  private async grouped(
    all: readonly Span[],
    query: (spans: readonly Span[]) => string | SourceQuery,
    signal?: AbortSignal,
  ): Promise<Map<number, IntervalChecksum>> {
    const out = new Map<number, IntervalChecksum>();
    for (let i = 0; i < all.length; i += SPANS_PER_QUERY) {
      const spans = all.slice(i, i + SPANS_PER_QUERY);
      const rows = await this.rows<{ bx_interval: number | string; bx_records: number | string; bx_checksum: string }>(
        query(spans),
        signal,
      );
      const asked = new Set(spans.map((span) => span.start));
      for (const row of rows) {
        const start = Number(row.bx_interval) * 1000;
        if (asked.has(start)) out.set(start, { records: Number(row.bx_records), checksum: row.bx_checksum });
      }
    }
    return out;
  }

  /** The rows of a query as JSON objects; errors classified. */
  private async rows<T>(query: string | SourceQuery, signal?: AbortSignal): Promise<T[]> {
    const { sql, settings } = typeof query === 'string' ? { sql: query, settings: undefined } : query;
    try {
      const result = await this.client.query({
        query: sql,
        format: 'JSONEachRow',
        abort_signal: signal,
        ...(settings ? { clickhouse_settings: { ...settings } } : {}),
      });
      return await result.json<T>();
    } catch (err) {
      // A server that answered with an error has a numeric code; anything else did not answer.
      const code = serverErrorCode(err);
      if (code !== undefined) {
        throw new PermanentError(`ClickHouse: ${errorMessage(err)}`, { code: `ClickHouse${code}`, cause: err });
      }
      throw new RetryableError(`ClickHouse: ${errorMessage(err)}`, { code: 'ClickHouseUnavailable', cause: err });
    }
  }

  /**
   * What the source holds for intervals of an export, as its runs select
   * the rows: events by its team and event filters; another model by its
   * plug-in's grouped query (a model without one cannot be checked).
   * `keyAsText`: a model's keys hashed as a destination's text holds them
   * (IntervalChecksumsInput), for a read-back; events' uuids are text already.
   */
  ofExport(
    exp: Pick<BatchExport, 'team_id' | 'model' | 'include_events' | 'exclude_events'>,
    spans: readonly Span[],
    table: SourceTables,
    signal?: AbortSignal,
    options: { keyAsText?: boolean } = {},
  ): Promise<Map<number, IntervalChecksum>> {
    if (exp.model !== 'events') return this.ofModel(exp, spans, table, signal, options.keyAsText);
    return this.byInterval(
      {
        database: table.CLICKHOUSE_DATABASE,
        table: table.EVENTS_TABLE,
        intervalColumn: table.EVENTS_INTERVAL_COLUMN,
        teamId: exp.team_id,
        spans,
        includeEvents: exp.include_events,
        excludeEvents: exp.exclude_events,
      },
      signal,
    );
  }

  /** Whether the receipts of an export of `model` can be checked against the source. */
  supports(model: string): boolean {
    if (model === 'events') return true;
    try {
      return Boolean(this.models?.(model).intervalChecksums);
    } catch {
      return false;
    }
  }

  /** A model's own grouped query, up to 500 intervals a query. */
  private ofModel(
    exp: Pick<BatchExport, 'team_id' | 'model'>,
    spans: readonly Span[],
    table: SourceTables,
    signal?: AbortSignal,
    keyAsText?: boolean,
  ): Promise<Map<number, IntervalChecksum>> {
    const query = this.models?.(exp.model).intervalChecksums;
    if (!query || !table.PERSONS_TABLE || !table.PERSON_DISTINCT_IDS_TABLE) {
      throw new PermanentError(`receipts of the ${exp.model} model cannot be checked`, { code: 'UnsupportedModel' });
    }
    const config = {
      ...table,
      PERSONS_TABLE: table.PERSONS_TABLE,
      PERSON_DISTINCT_IDS_TABLE: table.PERSON_DISTINCT_IDS_TABLE,
    };
    return this.grouped(
      spans,
      (part) =>
        query({
          config,
          teamId: exp.team_id,
          spans: part,
          interval: (column) => intervalExpression(column, part),
          keyAsText,
        }),
      signal,
    );
  }

  /**
   * What the source holds for the intervals of many exports, in their order:
   * exports whose intervals lie on one grid with the same filters share
   * queries (up to 200 teams each); any other export gets its own.
   */
  async ofExports(
    items: readonly ExportIntervals[],
    table: SourceTables,
    signal?: AbortSignal,
  ): Promise<Array<Map<number, IntervalChecksum>>> {
    const out = items.map(() => new Map<number, IntervalChecksum>());
    const groups = new Map<string, { grid: { origin: number; step: number }; members: number[] }>();
    const alone: number[] = [];
    items.forEach((item, i) => {
      if (item.spans.length === 0) return;
      const grid = item.exp.model === 'events' ? gridOf(item.spans) : null;
      if (!grid) return alone.push(i);
      const key = JSON.stringify([grid, item.exp.include_events, item.exp.exclude_events]);
      const group = groups.get(key) ?? { grid, members: [] };
      group.members.push(i);
      groups.set(key, group);
    });
    const tasks: Array<() => Promise<void>> = alone.map((i) => async () => {
      out[i] = await this.ofExport(items[i]!.exp, items[i]!.spans, table, signal);
    });
    for (const { grid, members } of groups.values()) {
      const teams = [...new Set(members.map((i) => items[i]!.exp.team_id))];
      for (let t = 0; t < teams.length; t += TEAMS_PER_QUERY) {
        const teamIds = new Set(teams.slice(t, t + TEAMS_PER_QUERY));
        const mine = members.filter((i) => teamIds.has(items[i]!.exp.team_id));
        tasks.push(() => this.gridQuery(items, mine, [...teamIds], grid, table, out, signal));
      }
    }
    const queue = [...tasks];
    const worker = async () => {
      for (let task = queue.shift(); task; task = queue.shift()) await task();
    };
    await Promise.all(Array.from({ length: PARALLEL_QUERIES }, worker));
    return out;
  }

  private async gridQuery(
    items: readonly ExportIntervals[],
    members: number[],
    teamIds: number[],
    grid: { origin: number; step: number },
    table: EventsTable,
    out: Array<Map<number, IntervalChecksum>>,
    signal?: AbortSignal,
  ): Promise<void> {
    const from = Math.min(...members.map((i) => items[i]!.spans[0]!.start));
    const to = Math.max(...members.map((i) => items[i]!.spans[items[i]!.spans.length - 1]!.end));
    const exp = items[members[0]!]!.exp;
    const rows = await this.rows<{
      bx_team: string;
      bx_interval: number | string;
      bx_records: string;
      bx_checksum: string;
    }>(
      buildGridChecksumsQuery({
        database: table.CLICKHOUSE_DATABASE,
        table: table.EVENTS_TABLE,
        intervalColumn: table.EVENTS_INTERVAL_COLUMN,
        teamIds,
        grid,
        from,
        to,
        includeEvents: exp.include_events,
        excludeEvents: exp.exclude_events,
      }),
      signal,
    );
    const byTeam = new Map<number, Map<number, IntervalChecksum>>();
    for (const row of rows) {
      const team = Number(row.bx_team);
      const intervals = byTeam.get(team) ?? new Map<number, IntervalChecksum>();
      intervals.set(Number(row.bx_interval) * 1000, { records: Number(row.bx_records), checksum: row.bx_checksum });
      byTeam.set(team, intervals);
    }
    for (const i of members) {
      const held = byTeam.get(items[i]!.exp.team_id);
      for (const span of items[i]!.spans) {
        const tally = held?.get(span.start);
        if (tally) out[i]!.set(span.start, tally);
      }
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

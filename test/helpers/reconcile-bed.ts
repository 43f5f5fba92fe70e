import { ClickHouseSource } from '@bx/clickhouse';
import { IntervalChecksums } from '@bx/clickhouse/checksums';
import { createLogger, type DestinationConfig, type Run, type Span } from '@bx/core';
import { writerFor } from '@bx/destinations';
import { modelPlugin } from '@bx/models';
import { ExportService, Reconciler, type ReconcilerOptions } from '@bx/operations';
import { BullMqRunQueue, type RunWorker } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import { Store } from '@bx/store';
import { createRunProcessor } from '@bx/worker';
import { TestClickHouse } from './clickhouse';
import { testEnv, uniqueName } from './env';
import { chTime, makeEvent, type SourceEvent } from './events';
import { eventually } from './processes';
import { SCENARIO_INSERTS } from './person-scenarios';
import { PERSONS_DDL_18, type MappingRow, type PersonRow } from './persons';
import { dropStoreAndQueue } from './redis-prefix';
import { sourceConfig } from './run-context';

export const HOUR = 3_600_000;

/**
 * The pieces the reconciler works with, in this process over the real
 * servers: ClickHouse 18.16 (a database of its own), Redis (a prefix of its
 * own), BullMQ and a worker running the real run processor and destination
 * writers. Time is whatever the test says `now` is: runs are created by a
 * scheduler tick at `now` and checked by reconciler passes at `now`.
 */
export class ReconcileBed {
  readonly logger = createLogger({}, 'error');
  readonly prefix = uniqueName('bxrc');
  readonly ch = new TestClickHouse();
  readonly store = Store.connect(testEnv.REDIS_URL, this.prefix);
  readonly queue = new BullMqRunQueue({
    redis: { url: testEnv.REDIS_URL },
    prefix: this.prefix,
    attempts: 3,
    backoffMs: 100,
  });
  readonly checksums = IntervalChecksums.fromConfig(
    {
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_QUERY_TIMEOUT_MS: 60_000,
      CLICKHOUSE_IDLE_TIMEOUT_MS: 60_000,
    },
    modelPlugin,
  );
  readonly exports: ExportService;
  private readonly source = new ClickHouseSource({
    url: testEnv.CLICKHOUSE_URL,
    username: 'default',
    password: '',
    requestTimeoutMs: 60_000,
  });
  private worker: RunWorker | null = null;

  constructor(readonly now: number) {
    this.exports = new ExportService(this.store, this.queue, this.logger, () => now);
  }

  async start(): Promise<this> {
    await this.ch.setup();
    return this;
  }

  get table() {
    return sourceConfig(this.ch.database);
  }

  startWorker(): void {
    const processor = createRunProcessor({
      store: this.store,
      source: this.source,
      destinationFor: (exp) => writerFor(exp.destination),
      config: this.table,
      logger: this.logger,
    });
    this.worker = this.queue.startWorker(processor, { concurrency: 2, logger: this.logger });
  }

  async stopWorker(): Promise<void> {
    await this.worker?.close(5000);
    this.worker = null;
  }

  /** A reconciler over this bed, as the scheduler role builds one. */
  reconciler(opts: Partial<ReconcilerOptions> = {}, store = this.store): Reconciler {
    return new Reconciler(store, this.queue, (items) => this.checksums.ofExports(items, this.table), this.logger, {
      checks: (model) => this.checksums.supports(model),
      windowMs: 72 * HOUR,
      keepMismatchesMs: 90 * 24 * HOUR,
      ...opts,
    });
  }

  /** Events of `team` with inserted_at spread over each span (`n` per span), inserted at the source. */
  async seed(team: number, spans: readonly Span[], n: number): Promise<SourceEvent[]> {
    const events = spans.flatMap((span) =>
      Array.from({ length: n }, (_, i) =>
        makeEvent({
          team_id: team,
          inserted_at: chTime(new Date(span.start + Math.floor(((span.end - span.start) * i) / n)).toISOString()),
        }),
      ),
    );
    await this.ch.insert(events);
    return events;
  }

  /** Creates an hourly export of `team` over `[from, to)` and lets a scheduler tick at `now` create and queue its runs. */
  async createExport(
    team: number,
    from: number,
    to: number,
    destination: DestinationConfig,
    extra = {},
  ): Promise<string> {
    const exp = await this.exports.create({
      name: `reconcile ${team}`,
      team_id: team,
      interval: 'hour',
      start_at: new Date(from).toISOString(),
      end_at: new Date(to).toISOString(),
      destination,
      ...extra,
    });
    await new Scheduler({ store: this.store, queue: this.queue, logger: this.logger, settleMs: 0 }).tick(this.now);
    return exp.id;
  }

  /** The export's runs once `count` of them are Completed with receipts of at least `version`. */
  async completed(exportId: string, count: number, version = 1): Promise<Run[]> {
    return eventually(
      async () => {
        const runs = await this.store.runs.list(exportId, { limit: 1000 });
        const failed = runs.find((r) => r.status === 'Failed');
        if (failed) throw new Error(`run ${failed.id} failed: ${failed.error}`);
        const done = runs.filter((r) => r.status === 'Completed' && (r.receipt?.version ?? 0) >= version);
        return done.length >= count
          ? runs.sort((a, b) => a.data_interval_start.localeCompare(b.data_interval_start))
          : undefined;
      },
      60_000,
      `${count} completed runs of version ${version}`,
    );
  }

  /** What ClickHouse itself says of the team's rows in the span: count, checksum, bounds, uuids. */
  async sourceOf(team: number, span: Span) {
    const where = `team_id = ${team} AND inserted_at >= toDateTime(${span.start / 1000}) AND inserted_at < toDateTime(${span.end / 1000})`;
    const result = await this.ch.client.query({
      query: `SELECT count() AS records, toString(sum(sipHash64(toString(uuid)))) AS checksum,
          toString(min(inserted_at)) AS min, toString(max(inserted_at)) AS max, groupArray(toString(uuid)) AS uuids
        FROM ${this.ch.database}.events WHERE ${where}`,
      format: 'JSONEachRow',
    });
    const [row] = (await result.json()) as Array<{
      records: string;
      checksum: string;
      min: string;
      max: string;
      uuids: string[];
    }>;
    return {
      records: Number(row!.records),
      checksum: row!.checksum,
      min: row!.min,
      max: row!.max,
      uuids: row!.uuids.sort(),
    };
  }

  /** Deletes rows at the source (a mutation) and waits until it is done. */
  async deleteAtSource(uuids: readonly string[]): Promise<void> {
    await this.ch.client.command({
      query: `ALTER TABLE ${this.ch.database}.events DELETE WHERE toString(uuid) IN (${uuids.map((u) => `'${u}'`).join(', ')})`,
    });
    await eventually(
      async () => {
        const result = await this.ch.client.query({
          query: `SELECT count() AS n FROM system.mutations WHERE database = '${this.ch.database}' AND is_done = 0`,
          format: 'JSONEachRow',
        });
        const [row] = (await result.json()) as Array<{ n: string }>;
        return Number(row!.n) === 0 ? true : undefined;
      },
      30_000,
      'the deletion at the source',
    );
  }

  /** PostHog's person tables in the bed's database, holding the persons scenarios (person-scenarios.ts). */
  async seedPersons(): Promise<void> {
    for (const query of PERSONS_DDL_18(this.ch.database)) await this.ch.client.command({ query });
    for (const table of ['person', 'person_distinct_id2']) {
      await this.ch.client.command({ query: `SYSTEM STOP MERGES ${this.ch.database}.${table}` });
    }
    for (const rows of SCENARIO_INSERTS) await this.insertPersons(rows);
  }

  /** Person and mapping rows, one insert each. */
  async insertPersons(rows: { persons?: PersonRow[]; mappings?: MappingRow[] }): Promise<void> {
    const insert = async (table: string, values: object[]) => {
      if (values.length)
        await this.ch.client.insert({ table: `${this.ch.database}.${table}`, values, format: 'JSONEachRow' });
    };
    await insert('person', rows.persons ?? []);
    await insert('person_distinct_id2', rows.mappings ?? []);
  }

  /** Late rows: inserted now with an inserted_at inside an interval already exported. */
  async insertLate(team: number, span: Span, n: number): Promise<SourceEvent[]> {
    const events = Array.from({ length: n }, (_, i) =>
      makeEvent({ team_id: team, inserted_at: chTime(new Date(span.start + 1000 * (i + 1)).toISOString()) }),
    );
    await this.ch.insert(events);
    return events;
  }

  async stop(): Promise<void> {
    await this.stopWorker();
    await dropStoreAndQueue(this.store, this.queue, this.prefix);
    await Promise.all([this.checksums.close(), this.source.close(), this.ch.drop()]);
  }
}

/** `count` consecutive hours from `from`. */
export function hours(from: number, count: number): Span[] {
  return Array.from({ length: count }, (_, i) => ({ start: from + i * HOUR, end: from + (i + 1) * HOUR }));
}

import { ClickHouseSource, type ClickHouseSourceOptions } from '@bx/clickhouse';
import { eventsModel } from '@bx/model-events';
import type { BatchFormat, EventBatch } from '@bx/batch';
import type { EventRow, ModelPlugin, ModelQueryInput } from '@bx/core';
import { TestClickHouse } from './clickhouse';
import { testEnv } from './env';
import { TcpFaultProxy } from './tcp-fault-proxy';

export const START = Date.parse('2024-01-01T10:00:00Z');
export const END = Date.parse('2024-01-01T10:05:00Z');

/** What a run read: its records as the JSON Lines writers write them, its rows, and in how many batches. */
export interface RunRows {
  records: Buffer;
  rows: EventRow[];
  batches: number;
}

/** A test database on the real ClickHouse, behind a proxy that sees every query (and can break answers), and sources through it. */
export class SharedReadsBed {
  ch!: TestClickHouse;
  proxy!: TcpFaultProxy;
  private readonly sources: ClickHouseSource[] = [];

  async start(): Promise<this> {
    this.ch = await new TestClickHouse().setup();
    this.proxy = await new TcpFaultProxy(Number(new URL(testEnv.CLICKHOUSE_URL).port)).start();
    return this;
  }

  /** A source through the proxy (closed by `stop`). */
  source(opts: Partial<ClickHouseSourceOptions> = {}): ClickHouseSource {
    return this.track(
      new ClickHouseSource({
        url: `http://127.0.0.1:${this.proxy.port}`,
        username: 'default',
        password: '',
        requestTimeoutMs: 30_000,
        ...opts,
      }),
    );
  }

  /** `source`, closed by `stop`. */
  track(source: ClickHouseSource): ClickHouseSource {
    this.sources.push(source);
    return source;
  }

  /** The data queries passed on since `requested` was last cleared (not the column types'), each as its SQL. */
  queries(): string[] {
    return this.proxy.requested
      .split(/POST /)
      .filter((r) => r.includes('FORMAT RowBinary'))
      .map((r) => r.slice(r.indexOf('SELECT ')));
  }

  /** Clears what the proxy saw, and lets answers through. */
  reset(): void {
    this.proxy.requested = '';
    this.proxy.fault = 'none';
  }

  async stop(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.close()));
    await this.proxy.stop();
    await this.ch.drop();
  }
}

/** One events run of `teamId` over [START, END) of `ch`'s table through `sut`, as the worker reads it (buffers reused). */
export async function eventsRun(
  sut: ClickHouseSource,
  ch: { database: string; table: string },
  teamId: number,
  overrides: Partial<ModelQueryInput> = {},
  signal?: AbortSignal,
  plugin: ModelPlugin<BatchFormat> = eventsModel,
): Promise<RunRows> {
  const config = {
    CLICKHOUSE_DATABASE: ch.database,
    EVENTS_TABLE: ch.table,
    EVENTS_INTERVAL_COLUMN: 'inserted_at',
    PERSONS_TABLE: 'person',
    PERSON_DISTINCT_IDS_TABLE: 'person_distinct_id2',
  };
  const input = { config, teamId, start: START, end: END, ...overrides };
  const model = plugin as ModelPlugin<BatchFormat<EventBatch>>;
  const records: Buffer[] = [];
  const rows: EventRow[] = [];
  let batches = 0;
  for await (const batch of sut.modelBatches(model, input, signal, { reuseBuffers: true })) {
    records.push(batch.records());
    rows.push(...batch.rows());
    batches++;
  }
  return { records: Buffer.concat(records), rows, batches };
}

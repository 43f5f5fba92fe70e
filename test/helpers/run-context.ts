import { createLogger, modelSchema, type ModelSchema, type ModelSourceConfig } from '@bx/core';
import type { RunContext, RunState } from '@bx/batch';
import { eventsModel } from '@bx/model-events';
import type { JobContext } from '@bx/queue';

/** A run state kept in memory, as the worker keeps it on the run record. */
export class MemoryRunState implements RunState {
  value: unknown = null;
  async get<T>(): Promise<T | null> {
    return this.value as T | null;
  }
  async set(value: unknown): Promise<void> {
    this.value = JSON.parse(JSON.stringify(value));
  }
}

/** The events model as a destination sees it: what a run of an events export tells it. */
export const EVENTS_MODEL: ModelSchema = modelSchema(eventsModel);

/** Where the worker's processor finds the source tables: `database`, default table names. */
export function sourceConfig(database: string, eventsTable = 'events'): ModelSourceConfig {
  return {
    CLICKHOUSE_DATABASE: database,
    EVENTS_TABLE: eventsTable,
    EVENTS_INTERVAL_COLUMN: 'inserted_at',
    PERSONS_TABLE: 'person',
    PERSON_DISTINCT_IDS_TABLE: 'person_distinct_id2',
  };
}

export function runContext(
  span: { start: number; end: number },
  state: RunState = new MemoryRunState(),
  model: ModelSchema = EVENTS_MODEL,
): RunContext {
  return {
    exportId: 'e1',
    runId: 'r1',
    teamId: 1,
    model,
    attempt: 1,
    dataIntervalStart: span.start,
    dataIntervalEnd: span.end,
    signal: new AbortController().signal,
    logger: createLogger({}, 'error'),
    onProgress: () => undefined,
    state,
  };
}

/** Records the commands (and their input) a client sends. */
export function recordCommands(client: {
  middlewareStack: { add: (mw: any, opts: any) => void };
}): Array<{ command: string; input: Record<string, any> }> {
  const sent: Array<{ command: string; input: Record<string, any> }> = [];
  client.middlewareStack.add(
    (next: (args: any) => Promise<any>, context: { commandName: string }) =>
      async (args: { input: Record<string, any> }) => {
        sent.push({ command: context.commandName, input: args.input });
        return next(args);
      },
    { step: 'initialize', name: 'testRecordCommands' },
  );
  return sent;
}

/** What the queue tells a run processor, for calling one directly: attempt 1 of 3 unless told otherwise. */
export function jobContext(overrides: Partial<JobContext> = {}): JobContext {
  const attempt = overrides.attempt ?? 1;
  const maxAttempts = overrides.maxAttempts ?? 3;
  return {
    attempt,
    maxAttempts,
    lastAttempt: attempt >= maxAttempts,
    signal: new AbortController().signal,
    progress: async () => undefined,
    log: async () => undefined,
    ...overrides,
  };
}

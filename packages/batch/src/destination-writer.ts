import type { RecordBatch } from './batch-format';
import type { EventFilter, Logger, ModelSchema, RunReceipt } from '@bx/core';

/** What a destination is told about the run it is writing. */
export interface RunContext {
  exportId: string;
  runId: string;
  /** The team whose records the run exports: a destination that replaces an interval's rows replaces only this team's. */
  teamId: number;
  /** The export's model: the records' columns, `{table}`, and how table destinations apply them. */
  model: ModelSchema;
  /**
   * The export's event filters (events model): a destination that replaces
   * an interval's rows replaces only these events of the team, since another
   * export of the team may write its own into the same table. None: all.
   */
  events?: EventFilter;
  /** 1 for the first try. */
  attempt: number;
  /** The interval, epoch ms, `[start, end)`. */
  dataIntervalStart: number;
  dataIntervalEnd: number;
  /** Aborted when the run is cancelled or the worker shuts down. */
  signal: AbortSignal;
  logger: Logger;
  /** Called as rows are written, so long runs report progress and keep their lock. */
  onProgress(records: number): void;
  /** Scratch state of this run that survives attempts: what a crashed attempt left to clean up. */
  state: RunState;
  /**
   * The receipt of this attempt, tallied from the batches as the writer takes
   * them (contract: Receipts). A destination that keeps receipts writes
   * `receipt.build(files)` with its data once it has taken the last batch.
   */
  receipt?: ReceiptSource;
}

/** What a writer needs to write the receipt of its run. */
export interface ReceiptSource {
  /** This attempt's receipt version: one more than the last completed attempt's (1 for the first). */
  readonly version: number;
  /** The receipt of the rows the writer has taken so far, naming `files`. */
  build(files: readonly string[]): RunReceipt;
}

export interface RunState {
  /**
   * True when no earlier attempt of this run has started (counted across
   * worker crashes and manual retries): nothing of this run can be at the
   * destination or left open there, so there is nothing to clean up.
   */
  readonly fresh?: boolean;
  /**
   * True when an earlier run of this interval finished and its record, with
   * the state it kept here, is gone (removed by retention, or rewritten when
   * the export's interval changed): what it left at the destination is
   * unknown, so assume it left rows. `fresh` is then false.
   */
  readonly priorUnknown?: boolean;
  get<T>(): Promise<T | null>;
  set(value: unknown): Promise<void>;
  /**
   * Whether this attempt is still the run's latest: false once a later one
   * has started (this one's worker lost its lock: frozen, or cut off from
   * Redis, and another took the run over). The objects an attempt writes are
   * the interval's, so the later attempt's too: a superseded attempt must not
   * delete them. Absent: assumed latest. Costs a Redis read: for rare paths.
   */
  isLatest?(): Promise<boolean>;
}

/** The outcome of a run that wrote its rows. */
export interface DestinationResult {
  records: number;
  /** Bytes written to the destination (after compression). */
  bytes: number;
  /** Object keys or staged file names written by this attempt. */
  files: string[];
  /** The receipt the destination wrote with the data, when it keeps receipts. */
  receipt?: RunReceipt;
}

/**
 * The writer of one run, made by its destination plug-in's `createWriter`
 * (the plug-in's `check` is the destination test): consumes batches of rows
 * with back-pressure.
 */
export interface DestinationWriter {
  /**
   * Writes the run's rows. A batch's memory may be reused once the writer
   * asks for the next batch: it copies what it keeps beyond that.
   */
  write(batches: AsyncIterable<RecordBatch>, ctx: RunContext): Promise<DestinationResult>;
}

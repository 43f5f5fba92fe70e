import { expect } from 'chai';
import { EventBatch, type DestinationWriter } from '@bx/batch';
import { PermanentError, RetryableError, createLogger, runIdFor, type BatchExport } from '@bx/core';
import type { RunJob } from '@bx/queue';
import type { AttemptRef, RunLogLine, RunResult, RunStart, RunStartWithExport } from '@bx/store';
import { createRunProcessor, type RunExportDeps } from '@bx/worker';
import { asRows, chTime, makeEvent } from '../helpers/events';
import { exportFixture } from '../helpers/export-fixture';
import { jobContext, sourceConfig } from '../helpers/run-context';

const T0 = Date.parse('2024-01-01T00:00:00Z');
const EXPORT_ID = '0b7c0d8e-0000-4000-8000-000000000001';
/** The source's 42 rows of the interval. */
const ROWS = asRows(
  Array.from({ length: 42 }, (_, i) =>
    makeEvent({ inserted_at: chTime(`2024-01-01T00:${String(i).padStart(2, '0')}:00Z`) }),
  ),
);

/** The run records the processor touches, in memory: what the Lua scripts decide, reduced to this test's cases. */
class FakeRuns {
  startAnswer: RunStart = {
    status: 'started',
    attempt: 1,
    token: 'token-1',
    startedMs: 1,
    backfillId: null,
    receiptVersion: 1,
  };
  /** The export the start script reads with the run; null: deleted. */
  exp: BatchExport | null = null;
  finishAnswer = 'ok';
  readonly finished: Array<{ status: string; result?: RunResult; error?: string; attempt?: number | AttemptRef }> = [];
  readonly cancelled: string[] = [];
  saved: unknown = null;
  /** The run's log: lines a recorded outcome kept (the Lua script appends them with the status). */
  constructor(private readonly logs: RunLogLine[]) {}
  async startWithExport(): Promise<RunStartWithExport> {
    if (!this.exp) return { status: 'no-export' };
    const answer = this.startAnswer;
    return answer.status === 'started' ? { ...answer, export: this.exp } : answer;
  }
  async complete(
    _id: string,
    result: RunResult,
    _now?: number,
    attempt?: number | AttemptRef,
    _backfillId?: string | null,
    log: readonly RunLogLine[] = [],
  ): Promise<string> {
    this.finished.push({ status: 'Completed', result, attempt });
    return this.keep(log);
  }
  async fail(
    _id: string,
    status: string,
    error: string,
    _now?: number,
    attempt?: number | AttemptRef,
    _backfillId?: string | null,
    log: readonly RunLogLine[] = [],
  ): Promise<string> {
    this.finished.push({ status, error, attempt });
    return this.keep(log);
  }
  private keep(log: readonly RunLogLine[]): string {
    if (this.finishAnswer === 'ok') this.logs.push(...log);
    return this.finishAnswer;
  }
  async cancel(id: string): Promise<boolean> {
    this.cancelled.push(id);
    return true;
  }
  async state<T>(): Promise<T | null> {
    return this.saved as T | null;
  }
  async setState(_id: string, value: unknown): Promise<'ok'> {
    this.saved = value;
    return 'ok';
  }
}

/**
 * The worker's processor in the fast tier: its store, source and
 * destination are fakes of the interfaces it uses, so each outcome it
 * answers (and what it records and logs) is checked without any server.
 */
describe('run processor (fast, with fakes)', () => {
  let runs: FakeRuns;
  let logs: RunLogLine[];
  /** The run log's own append calls. */
  let runLogs: (id: string, lines: readonly RunLogLine[]) => Promise<void>;
  let failures: string[];
  let write: DestinationWriter['write'];

  const job: RunJob = {
    run_id: runIdFor(EXPORT_ID, T0),
    export_id: EXPORT_ID,
    data_interval_start: T0,
    data_interval_end: T0 + 3_600_000,
  };
  const sut = () =>
    createRunProcessor({
      store: {
        runs,
        runLogs: { append: (id: string, lines: readonly RunLogLine[]) => runLogs(id, lines) },
      } as unknown as RunExportDeps['store'],
      source: {
        modelBatches: async function* (): AsyncGenerator<EventBatch> {
          yield EventBatch.fromRows(ROWS);
        },
      } as unknown as RunExportDeps['source'],
      destinationFor: () => ({ write: (batches, ctx) => write(batches, ctx) }),
      config: sourceConfig('default'),
      logger: createLogger({}, 'error'),
      failures: {
        failed: async (id: string, error: string) => void failures.push(`${id} ${error}`),
      },
    });

  beforeEach(() => {
    logs = [];
    runLogs = async (_id, lines) => void logs.push(...lines);
    runs = new FakeRuns(logs);
    runs.exp = exportFixture(EXPORT_ID, T0);
    failures = [];
    write = async (batches) => {
      let records = 0;
      for await (const batch of batches) records += batch.count;
      return { records, bytes: 1000, files: ['a.jsonl'] };
    };
  });

  it('a completed run: its result recorded for its attempt (which ends the streak of failures), its log kept', async () => {
    runs.startAnswer = {
      status: 'started',
      attempt: 3,
      token: 'token-3',
      startedMs: 3,
      backfillId: null,
      receiptVersion: 2,
    };
    const jobLog: string[] = [];
    const appended: RunLogLine[][] = [];
    runLogs = async (_id, lines) => void appended.push([...lines]);
    expect(await sut()(job, jobContext({ log: async (entry) => void jobLog.push(entry) }))).to.deep.equal({
      status: 'completed',
      records: 42,
      bytes: 1000,
      files: ['a.jsonl'],
    });
    const [finished] = runs.finished;
    // Named by its token too: the number alone repeats (a rewritten record, a failover).
    expect(finished).to.deep.include({ status: 'Completed', attempt: { attempt: 3, token: 'token-3', startedMs: 3 } });
    // The receipt is of the rows the writer was handed, with the version start() gave.
    expect(finished!.result).to.deep.include({ records: 42, bytes: 1000, files: ['a.jsonl'] });
    expect(finished!.result!.receipt).to.deep.include({
      records: 42,
      files: ['a.jsonl'],
      version: 2,
      min_inserted_at: '2024-01-01T00:00:00+00:00',
      max_inserted_at: '2024-01-01T00:41:00+00:00',
    });
    expect((finished!.result!.receipt as { checksum: string }).checksum).to.match(/^[1-9][0-9]*$/);
    expect(logs.map((l) => l.message.split(' ')[0] + ' ' + l.message.split(' ')[1])).to.deep.equal([
      'run started',
      'run completed',
    ]);
    expect(logs[1]!.message).to.match(
      /^run completed records=42 bytes=1000 files=1 checksum=\d+ receipt_version=2 ms=\d+$/,
    );
    // The lines went with the result (no call of their own); the job's log has each once.
    expect(appended).to.deep.equal([]);
    expect(
      jobLog
        .join('\n')
        .split('\n')
        .map((l) => l.split(' ').slice(2, 4).join(' ')),
    ).to.deep.equal(['run started', 'run completed']);
  });

  it('a writer that reports fewer rows than it was handed fails the attempt, retryable, with no receipt', async () => {
    write = async (batches) => {
      for await (const _ of batches) void _;
      return { records: 41, bytes: 1000, files: ['a.jsonl'] };
    };
    expect(await sut()(job, jobContext({ attempt: 1, maxAttempts: 3 }))).to.deep.include({
      status: 'failed',
      retry: true,
    });
    expect(runs.finished).to.have.length(1);
    expect(runs.finished[0]).to.deep.include({ status: 'FailedRetryable' });
    expect(runs.finished[0]!.error).to.match(/41 rows written of 42 read/);
  });

  it('held while the export is paused: nothing written, nothing recorded', async () => {
    runs.startAnswer = { status: 'held' };
    let wrote = false;
    write = async () => {
      wrote = true;
      return { records: 0, bytes: 0, files: [] };
    };
    expect(await sut()(job, jobContext())).to.deep.equal({ status: 'held' });
    expect(wrote).to.equal(false);
    expect(runs.finished).to.deep.equal([]);
  });

  it('a run whose attempts kept dying unfinished fails for good, counted, without writing', async () => {
    runs.startAnswer = { status: 'crashed', crashes: 8, backfillId: null };
    let wrote = false;
    write = async () => {
      wrote = true;
      return { records: 0, bytes: 0, files: [] };
    };
    const outcome = await sut()(job, jobContext());
    expect(outcome).to.deep.include({ status: 'failed', retry: false });
    expect(wrote).to.equal(false);
    expect(runs.finished).to.have.length(1);
    expect(runs.finished[0]).to.deep.include({ status: 'Failed', attempt: undefined });
    expect(runs.finished[0]!.error).to.match(/stopped 8 times in a row without finishing/);
    expect(failures).to.have.length(1);
    expect(logs.map((l) => l.message)).to.satisfy((m: string[]) => m.some((x) => x.startsWith('run failed')));
  });

  it('a run already Failed for good (its worker died before the queue heard): dead-lettered again, not run', async () => {
    // The job came back as stalled after its worker recorded Failed: it used to run once more,
    // beyond its last attempt, and could turn a permanent failure Completed behind the backfill's count.
    runs.startAnswer = { status: 'Failed', error: 'NoSuchBucket' };
    let wrote = false;
    write = async () => {
      wrote = true;
      return { records: 0, bytes: 0, files: [] };
    };
    expect(await sut()(job, jobContext())).to.deep.equal({ status: 'failed', error: 'NoSuchBucket', retry: false });
    expect(wrote).to.equal(false);
    expect(runs.finished).to.deep.equal([]);
    expect(failures).to.deep.equal([]);
  });

  it('skipped when the export is gone (the run is cancelled) or the run already finished', async () => {
    runs.exp = null;
    expect(await sut()(job, jobContext())).to.deep.equal({ status: 'skipped', reason: 'export deleted' });
    expect(runs.cancelled).to.deep.equal([job.run_id]);
    runs.exp = exportFixture(EXPORT_ID, T0);
    runs.startAnswer = { status: 'Completed' };
    expect(await sut()(job, jobContext())).to.deep.equal({ status: 'skipped', reason: 'Completed' });
  });

  it('a retryable error is FailedRetryable and retried, until the last attempt: then Failed and counted', async () => {
    write = async () => {
      throw new RetryableError('connect ECONNREFUSED');
    };
    expect(await sut()(job, jobContext({ attempt: 1, maxAttempts: 2 }))).to.deep.equal({
      status: 'failed',
      error: 'connect ECONNREFUSED',
      retry: true,
    });
    expect(failures).to.deep.equal([]);
    expect(await sut()(job, jobContext({ attempt: 2, maxAttempts: 2 }))).to.deep.include({ retry: false });
    expect(runs.finished.map((f) => f.status)).to.deep.equal(['FailedRetryable', 'Failed']);
    expect(failures).to.deep.equal([`${EXPORT_ID} connect ECONNREFUSED`]);
    expect(logs.at(-1)!).to.deep.include({ level: 'warn' });
    expect(logs.at(-1)!.message).to.match(/^run failed error="connect ECONNREFUSED" retryable=true/);
  });

  it('a permanent error fails the run at once', async () => {
    write = async () => {
      throw new PermanentError('NoSuchBucket: gone', { code: 'NoSuchBucket' });
    };
    expect(await sut()(job, jobContext({ attempt: 1, maxAttempts: 15 }))).to.deep.equal({
      status: 'failed',
      error: 'NoSuchBucket: gone',
      retry: false,
    });
    expect(runs.finished.map((f) => f.status)).to.deep.equal(['Failed']);
  });

  // A destination server may write back what it was sent (the password) and add lines of its own:
  // the run's error, its log and the auto-pause notice carry neither the secret nor a second line.
  it("records a failure without the export's secret values, on one line, whatever the destination said", async () => {
    const secret = 'pw-echoed-0123456789';
    const exp = exportFixture(EXPORT_ID, T0);
    exp.destination.config.aws_secret_access_key = secret;
    runs.exp = exp;
    const forged = '\n{"level":"info","msg":"run completed"}\u001b[2J';
    write = async () => {
      throw new PermanentError(`S3 upload failed: AccessDenied: you sent ${secret}${forged}`, { code: 'AccessDenied' });
    };
    const outcome = await sut()(job, jobContext({ attempt: 1, maxAttempts: 15 }));
    const expected =
      'S3 upload failed: AccessDenied: you sent [redacted]\\n{"level":"info","msg":"run completed"}\\u001b[2J';
    expect(outcome).to.deep.equal({ status: 'failed', error: expected, retry: false });
    expect(runs.finished.map((f) => f.error)).to.deep.equal([expected]);
    expect(failures).to.deep.equal([`${EXPORT_ID} ${expected}`]);
    const logged = logs.map((l) => l.message).join('\n');
    expect(logged).to.contain('[redacted]').and.not.to.contain(secret);
    expect(
      logs.every((l) => !/\p{Cc}/u.test(l.message)),
      'no control character in a log line',
    ).to.equal(true);
  });

  // A destination logs its server's words (a cleanup's failure) into the run's log: the export's secrets go too.
  it("keeps the export's secret values out of every line of the run's log and its job's log", async () => {
    const secret = 'pw-echoed-0123456789';
    const exp = exportFixture(EXPORT_ID, T0);
    exp.destination.config.aws_secret_access_key = secret;
    runs.exp = exp;
    write = async (batches, ctx) => {
      let records = 0;
      for await (const batch of batches) records += batch.count;
      ctx.logger.warn('could not abort a multipart upload left by an earlier attempt', {
        error: `S3 abort failed: AccessDenied: "you sent ${secret}"`,
      });
      ctx.logger.warn('could not delete objects of an aborted attempt', {
        keys: ['a.jsonl'],
        err: new Error(`denied: ${encodeURIComponent(secret)}`),
      });
      return { records, bytes: 1000, files: ['a.jsonl'] };
    };
    const jobLog: string[] = [];
    await sut()(job, jobContext({ log: async (entry) => void jobLog.push(entry) }));
    const stored = logs.map((l) => l.message).join('\n');
    expect(stored).to.contain('could not abort').and.contain('could not delete').and.contain('[redacted]');
    for (const text of [stored, jobLog.join('\n')]) expect(text).not.to.contain(secret.slice(0, 8));
  });

  it('a completion the run did not take (it is FailedRetryable by then) is not reported done: the job is retried', async () => {
    // Redis lost the writes of its last second: an earlier attempt's start went with them, the next
    // start got the same attempt number, and that earlier attempt recorded its failure over this one.
    runs.finishAnswer = 'FailedRetryable';
    const outcome = await sut()(job, jobContext());
    expect(outcome).to.include({ status: 'failed', retry: true });
    expect((outcome as { error: string }).error).to.contain('FailedRetryable');
    expect(logs.map((l) => l.message)).not.to.satisfy((m: string[]) => m.some((x) => x.startsWith('run completed')));
    runs.finishAnswer = 'Failed';
    expect(await sut()(job, jobContext())).to.deep.equal({ status: 'skipped', reason: 'Failed' });
    // On the last attempt a failure would dead-letter a run still open: left to the stranded-run repair.
    runs.finishAnswer = 'FailedRetryable';
    expect(await sut()(job, jobContext({ attempt: 3, maxAttempts: 3 }))).to.deep.equal({
      status: 'skipped',
      reason: 'FailedRetryable',
    });
    expect(failures, 'not counted towards auto-pause').to.deep.equal([]);
  });

  it('an attempt another worker took over, or a run cancelled meanwhile, ends without a retry or a failure', async () => {
    runs.finishAnswer = 'Superseded';
    expect(await sut()(job, jobContext())).to.deep.equal({ status: 'skipped', reason: 'superseded' });
    // Its outcome was not recorded, nor its lines with it: the log's own call writes them, and what happened.
    expect(logs.map((l) => l.message.split(' ').slice(0, 3).join(' '))).to.deep.equal([
      'run started data_interval_start=2024-01-01T00:00:00.000Z',
      'run superseded by',
    ]);
    write = async () => {
      throw new RetryableError('aborted');
    };
    runs.finishAnswer = 'Cancelled';
    expect(await sut()(job, jobContext())).to.deep.equal({ status: 'skipped', reason: 'cancelled' });
    expect(failures).to.deep.equal([]);
  });
});

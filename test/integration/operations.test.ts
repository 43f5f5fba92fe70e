import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { isoSeconds, runIdFor, type Run } from '@bx/core';
import { main as enqueueBackfill } from '@bx/cli';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { InProcessSystem } from '../helpers/in-process';
import { eventually } from '../helpers/processes';
import { createBucket, listKeys, readJsonLines, testS3Client } from '../helpers/s3';

const HOUR = 3_600_000;
const PER_HOUR = 3;
const base = Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

describe('operating exports: backfills, retry, cancel, enqueue-backfill', function () {
  this.timeout(120_000);
  let ch: TestClickHouse;
  let s3: S3Client;
  let bucket: string;
  /** The bucket's data objects, without the intervals' receipts. */
  const dataKeys = async () => (await listKeys(s3, bucket)).filter((k) => !k.endsWith('_receipt.json'));
  let sys: InProcessSystem;

  before(async () => {
    ch = await new TestClickHouse().setup();
    const events = [];
    for (let h = 0; h < 48; h++) {
      for (let i = 0; i < PER_HOUR; i++)
        events.push(makeEvent({ inserted_at: chTime(iso(base + h * HOUR + i * 600_000)) }));
    }
    // A big interval (two days before the rest) for a run that takes a few seconds.
    const big = chTime(iso(base - 48 * HOUR + 60_000));
    for (let i = 0; i < 150_000; i++)
      events.push(makeEvent({ inserted_at: big, properties: '{"pad":"' + 'z'.repeat(200) + '"}' }));
    await ch.insert(events);
    s3 = testS3Client();
  });
  after(async () => ch.drop());
  beforeEach(async () => {
    bucket = await createBucket(s3);
    sys = await new InProcessSystem(ch.database).start();
  });
  afterEach(async () => sys.stop());

  const createExport = async (overrides: Record<string, unknown> = {}, bucketName = bucket): Promise<string> => {
    const res = await sys.call('POST', '/api/exports', {
      name: 'ops',
      team_id: 1,
      interval: 'hour',
      // Not scheduled (its end is in the past): backfills are its only runs.
      end_at: iso(base + 48 * HOUR),
      destination: {
        type: 'S3',
        config: { bucket_name: bucketName, endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
      },
      ...overrides,
    });
    expect(res.status, JSON.stringify(res.json)).to.equal(201);
    return res.json.id as string;
  };
  const backfill = async (id: string, start: number, end: number, force?: boolean) => {
    const res = await sys.call('POST', `/api/exports/${id}/backfills`, {
      start_at: iso(start),
      end_at: iso(end),
      force,
    });
    expect(res.status, JSON.stringify(res.json)).to.equal(201);
    return res.json as { id: string; total_runs: number; skipped_runs: number; status: string; created_at: string };
  };
  const finished = (id: string, backfillId: string) =>
    eventually(
      async () => {
        const res = await sys.call('GET', `/api/exports/${id}/backfills/${backfillId}`);
        return res.json.status === 'Running' ? undefined : res.json;
      },
      90_000,
      `backfill ${backfillId} to finish`,
    );
  const runsOf = async (id: string): Promise<Run[]> =>
    (await sys.call('GET', `/api/exports/${id}/runs?limit=1000`)).json.results;
  const runStatus = (id: string, runId: string, status: string) =>
    eventually(
      async () => {
        const run = (await sys.call('GET', `/api/exports/${id}/runs?limit=1000`)).json.results.find(
          (r: Run) => r.id === runId,
        );
        return run?.status === status ? (run as Run) : undefined;
      },
      60_000,
      `run ${runId} to be ${status}`,
    );

  it('a backfill over 48 hourly intervals exports each exactly once, also when run twice', async () => {
    sys.startWorker(2);
    const id = await createExport();
    const first = await backfill(id, base, base + 48 * HOUR);
    expect(first).to.deep.include({ total_runs: 48, skipped_runs: 0, status: 'Running' });
    const done = await finished(id, first.id);
    expect(done).to.deep.include({
      status: 'Completed',
      total_runs: 48,
      finished_runs: 48,
      failed_runs: 0,
      cancelled_runs: 0,
      skipped_runs: 0,
      records_completed: 48 * PER_HOUR,
      progress: 1,
    });
    const again = await backfill(id, base, base + 48 * HOUR);
    expect(again).to.deep.include({ total_runs: 48, skipped_runs: 48, status: 'Completed', progress: 1 });
    // Nothing of the first backfill's work counts for the second.
    expect(await finished(id, again.id)).to.deep.include({ finished_runs: 0, records_completed: 0 });
    expect(Date.parse((await finished(id, again.id)).finished_at)).to.be.at.least(Date.parse(again.created_at));
    const keys = await listKeys(s3, bucket);
    // One data object and one receipt per interval (contract: Receipts).
    expect(keys.filter((k) => !k.endsWith('_receipt.json'))).to.have.length(48);
    expect(keys.filter((k) => k.endsWith('_receipt.json'))).to.have.length(48);
    for (let h = 0; h < 48; h += 7) {
      expect(
        await readJsonLines(s3, bucket, `${isoSeconds(base + h * HOUR)}-${isoSeconds(base + (h + 1) * HOUR)}.jsonl`),
      ).to.have.length(PER_HOUR);
    }
    const runs = await runsOf(id);
    expect(runs).to.have.length(48);
    expect(runs.every((r) => r.attempts === 1 && r.status === 'Completed' && r.backfill_id === first.id)).to.equal(
      true,
    );
  });

  it('overlapping scheduled runs and a forced backfill: every interval once, then again only when forced', async () => {
    const id = await createExport({ paused: false, start_at: iso(base + 40 * HOUR), end_at: iso(base + 48 * HOUR) });
    await sys.scheduler.tick();
    const scheduled = (await runsOf(id)).length;
    expect(scheduled).to.equal(8);
    const overlapping = await backfill(id, base + 30 * HOUR, base + 48 * HOUR);
    // The 8 scheduled runs are queued already: not exported twice.
    expect(overlapping).to.deep.include({ total_runs: 18, skipped_runs: 8 });
    sys.startWorker(2);
    expect(await finished(id, overlapping.id)).to.deep.include({
      finished_runs: 10,
      skipped_runs: 8,
      records_completed: 10 * PER_HOUR,
    });
    const runs = await runsOf(id);
    expect(runs).to.have.length(18);
    expect(runs.map((r) => r.attempts)).to.deep.equal(runs.map(() => 1));
    const forced = await backfill(id, base + 44 * HOUR, base + 48 * HOUR, true);
    expect(forced).to.deep.include({ total_runs: 4, skipped_runs: 0 });
    expect(await finished(id, forced.id)).to.deep.include({ finished_runs: 4, records_completed: 4 * PER_HOUR });
    const after = await runsOf(id);
    expect(
      after
        .filter((r) => r.attempts === 2)
        .map((r) => r.data_interval_start)
        .sort(),
    ).to.deep.equal([44, 45, 46, 47].map((h) => iso(base + h * HOUR)));
    expect(await dataKeys()).to.have.length(18);
  });

  it('rejects bad backfill ranges with 400 naming the field, and unknown exports with 404', async () => {
    const id = await createExport();
    const bad = async (body: unknown, field: string) => {
      const res = await sys.call('POST', `/api/exports/${id}/backfills`, body);
      expect(res.status, JSON.stringify(res.json)).to.equal(400);
      expect(res.json.error.details.map((d: { field: string }) => d.field)).to.include(field);
    };
    await bad({ start_at: iso(base), end_at: iso(Date.now() + 2 * HOUR) }, 'end_at');
    await bad({ start_at: iso(base + HOUR), end_at: iso(base) }, 'end_at');
    await bad({ start_at: 'last tuesday', end_at: iso(base) }, 'start_at');
    await bad({ start_at: iso(base), end_at: iso(base + HOUR), extra: 1 }, 'extra');
    expect(
      (await sys.call('POST', '/api/exports/nope/backfills', { start_at: iso(base), end_at: iso(base + HOUR) })).status,
    ).to.equal(404);
    expect((await sys.call('GET', `/api/exports/${id}/backfills/nope`)).status).to.equal(404);
  });

  it('scheduled runs go before backfill runs', async () => {
    const a = await createExport();
    const b = await createExport({ paused: false, start_at: iso(base + 47 * HOUR) });
    await backfill(a, base, base + 12 * HOUR);
    await sys.scheduler.tick();
    sys.startWorker(1);
    const scheduledRun = await runStatus(b, runIdFor(b, base + 47 * HOUR), 'Completed');
    const backfillRuns = await eventually(
      async () => {
        const runs = await runsOf(a);
        return runs.every((r) => r.status === 'Completed') ? runs : undefined;
      },
      60_000,
      'backfill runs',
    );
    const firstBackfillStart = backfillRuns.map((r) => r.started_at!).sort()[0]!;
    expect(scheduledRun.started_at! <= firstBackfillStart).to.equal(true);
  });

  it('retry runs a failed interval again as a new attempt of the same run', async () => {
    const id = await createExport({}, 'no-such-bucket-yet');
    sys.startWorker();
    const b = await backfill(id, base, base + HOUR);
    await finished(id, b.id);
    const [failed] = await runsOf(id);
    expect(failed).to.deep.include({ status: 'Failed', attempts: 1 });
    expect(failed!.error).to.contain('NoSuchBucket');
    expect(
      (
        await sys.call('PATCH', `/api/exports/${id}`, {
          // A new bucket is a new place for the data: the secret comes again (secrets_required).
          destination: { config: { bucket_name: bucket, ...S3_CREDENTIALS } },
        })
      ).status,
    ).to.equal(200);
    const retried = await sys.call('POST', `/api/exports/${id}/runs/${failed!.id}/retry`);
    expect(retried.status).to.equal(202);
    const done = await runStatus(id, failed!.id, 'Completed');
    expect(done).to.deep.include({ attempts: 2, records_completed: PER_HOUR, error: null });
    expect(await dataKeys()).to.have.length(1);
    expect((await sys.call('POST', `/api/exports/${id}/runs/nope/retry`)).status).to.equal(404);
  });

  it("Bull Board's Retry of a failed job runs its interval again, as the API's retry", async () => {
    const id = await createExport({}, 'no-such-bucket-either');
    sys.startWorker();
    await finished(id, (await backfill(id, base, base + HOUR)).id);
    const [failed] = await runsOf(id);
    expect(failed).to.deep.include({ status: 'Failed', attempts: 1 });
    await eventually(async () => (await sys.bullmq.runs.getJobState(failed!.id)) === 'failed', 10_000, 'its job');
    expect(await sys.bullmq.deadLetter.getJob(failed!.id)).to.not.equal(undefined);
    const patch = { destination: { config: { bucket_name: bucket, ...S3_CREDENTIALS } } };
    expect((await sys.call('PATCH', `/api/exports/${id}`, patch)).status).to.equal(200);
    const board = '/admin/queues/api/queues/export-runs';
    // BullMQ's own retry moved the job back and left the run Failed: dead-lettered again, never run.
    expect((await sys.call('PUT', `${board}/${encodeURIComponent(failed!.id)}/retry`)).status).to.equal(204);
    const done = await runStatus(id, failed!.id, 'Completed');
    expect(done).to.deep.include({ attempts: 2, records_completed: PER_HOUR, error: null });
    expect(await dataKeys()).to.have.length(1);
    expect(await sys.bullmq.deadLetter.getJob(failed!.id)).to.equal(undefined);
    const all = await sys.call('PUT', `${board}/retry/failed`);
    expect([all.status, all.json.error.code]).to.deep.equal([405, 'method_not_allowed']);
  });

  it('cancel stops a queued run; it is never exported', async () => {
    const id = await createExport();
    await backfill(id, base, base + 3 * HOUR);
    const runId = runIdFor(id, base + HOUR);
    const res = await sys.call('POST', `/api/exports/${id}/runs/${runId}/cancel`);
    expect(res.status).to.equal(200);
    expect(res.json.status).to.equal('Cancelled');
    expect((await sys.call('POST', `/api/exports/${id}/runs/${runId}/cancel`)).status).to.equal(409);
    sys.startWorker();
    await eventually(
      async () => ((await runsOf(id)).filter((r) => r.status === 'Completed').length === 2 ? true : undefined),
      30_000,
      'the other runs',
    );
    expect((await listKeys(s3, bucket)).some((k) => k.startsWith(isoSeconds(base + HOUR)))).to.equal(false);
    expect((await runsOf(id)).find((r) => r.id === runId)!.status).to.equal('Cancelled');
  });

  it('cancel stops a running run: the worker aborts, no object is left, no retry follows', async () => {
    const id = await createExport();
    const bigStart = base - 48 * HOUR;
    const runId = runIdFor(id, bigStart);
    sys.startWorker();
    await backfill(id, bigStart, bigStart + HOUR);
    await runStatus(id, runId, 'Running');
    expect((await sys.call('POST', `/api/exports/${id}/runs/${runId}/retry`)).status).to.equal(409);
    expect((await sys.call('POST', `/api/exports/${id}/runs/${runId}/cancel`)).json.status).to.equal('Cancelled');
    await eventually(
      async () => ((await sys.bullmq.runs.getJob(runId))?.finishedOn ? true : undefined),
      30_000,
      'the job to stop',
    );
    const run = (await runsOf(id)).find((r) => r.id === runId)!;
    expect(run).to.deep.include({ status: 'Cancelled', attempts: 1 });
    expect(await listKeys(s3, bucket)).to.deep.equal([]);
  });

  it('npm run enqueue-backfill --wait shows progress and a summary; bad arguments exit 2', async () => {
    sys.startWorker(2);
    const id = await createExport();
    const cli = join(__dirname, '..', '..', 'services', 'cli', 'dist', 'enqueue-backfill.js');
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(process.execPath, [cli, ...args], {
          env: { ...process.env, REDIS_URL: testEnv.REDIS_URL, QUEUE_PREFIX: sys.prefix },
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => resolve({ code, out, err }));
      });
    const ok = await run([
      '--export-id',
      id,
      '--start',
      iso(base),
      '--end',
      iso(base + 6 * HOUR),
      '--wait',
      '--poll-ms',
      '100',
    ]);
    expect(ok.code, ok.err).to.equal(0);
    expect(ok.out).to.match(/6 intervals from /);
    expect(ok.out).to.match(/\[#+-*\] +\d+\.\d% {2}runs \d\/6 {2}failed 0 {2}skipped 0 {2}rows \d+/);
    expect(ok.out).to.contain('[##############################] 100.0%  runs 6/6  failed 0  skipped 0  rows 18');
    expect(ok.out).to.match(/\| status +\| +Completed \|/);
    expect(ok.out).to.match(/\| rows exported +\| +18 \|/);
    // A forced backfill counts its own attempts only: the earlier runs' rows are not its progress.
    const forced = await run([
      '--export-id',
      id,
      '--start',
      iso(base),
      '--end',
      iso(base + 6 * HOUR),
      '--force',
      '--wait',
      '--poll-ms',
      '100',
    ]);
    expect(forced.code, forced.err).to.equal(0);
    const progress = forced.out
      .split(/[\r\n]+/)
      .map((line) => /runs (\d+)\/6 .* rows ([\d,]+)/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null);
    expect(progress).to.not.be.empty;
    for (const [line, finished, rows] of progress) {
      if (finished === '0') expect(rows, line).to.equal('0');
    }
    expect(forced.out).to.match(/\| rows exported +\| +18 \|/);
    const plan = await run(['--export-id', id, '--start', iso(base), '--end', iso(base + 6 * HOUR), '--dry-run']);
    expect(plan.code, plan.err).to.equal(0);
    expect(plan.out).to.match(/\| already exported +\| +6 \|/);
    expect(plan.out).to.match(/\| to export +\| +0 \|/);
    const twice = await run(['--export-id', id, '--start', iso(base), '--end', iso(base + 6 * HOUR), '--wait']);
    expect(twice.out).to.match(/\| skipped +\| +6 \|/);
    expect(twice.out).to.match(/\| rows exported +\| +0 \|/);
    const big = await run(['--export-id', id, '--start', iso(base - 2000 * HOUR), '--end', iso(base)]);
    expect(big.code).to.equal(2);
    expect(big.err).to.contain('holds 2000 intervals');
    expect(big.err).to.contain('--confirm');
    const missing = await run(['--export-id', id, '--start', iso(base)]);
    expect(missing.code).to.equal(2);
    expect(missing.err).to.contain('missing --end');
    const future = await run(['--export-id', id, '--start', iso(base), '--end', iso(Date.now() + 5 * HOUR)]);
    expect(future.code).to.equal(2);
    expect(future.err).to.contain('enqueue-backfill: --end is in the future');
    // An option given twice is refused, not the last one taken (another range).
    const twiceGiven = [
      '--export-id',
      id,
      '--start',
      iso(base),
      '--end',
      iso(base + HOUR),
      '--start',
      iso(base - HOUR),
    ];
    const again = await run([...twiceGiven, '--dry-run']);
    expect([again.code, again.err.split('\n')[0]]).to.deep.equal([
      2,
      'enqueue-backfill: option --start is given more than once',
    ]);
    const unknown = await run(['--export-id', 'nope', '--start', iso(base), '--end', iso(base + HOUR)]);
    expect(unknown.code).to.equal(1);
    expect(unknown.err).to.contain('export nope not found');
  });

  it('enqueue-backfill --wait on a paused export says so; Ctrl-C stops following, not the backfill', async () => {
    const id = await createExport({ paused: true });
    const cli = join(__dirname, '..', '..', 'services', 'cli', 'dist', 'enqueue-backfill.js');
    const range = ['--start', iso(base), '--end', iso(base + 6 * HOUR)];
    const child = spawn(process.execPath, [cli, '--export-id', id, ...range, '--wait', '--poll-ms', '100'], {
      env: { ...process.env, REDIS_URL: testEnv.REDIS_URL, QUEUE_PREFIX: sys.prefix },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<[number | null, string | null]>((resolve) =>
      child.on('exit', (code, signal) => resolve([code, signal])),
    );
    await eventually(async () => (/runs 0\/6/.test(out) ? true : undefined), 30_000, 'a progress line');
    expect(out).to.contain(`export ${id} is paused: its runs wait until it is unpaused`);
    child.kill('SIGINT');
    expect(await exited).to.deep.equal([130, null]);
    const backfillId = /backfill ([0-9a-f-]{36}): 6 intervals/.exec(out)![1]!;
    expect(err).to.contain(`stopped following; backfill ${backfillId} goes on`);
    const stored = await sys.call('GET', `/api/exports/${id}/backfills/${backfillId}`);
    expect(stored.json).to.deep.include({ status: 'Running', total_runs: 6 });
  });

  it('enqueue-backfill without --wait on a paused export says so too', async () => {
    const id = await createExport({ paused: true });
    let out = '';
    const code = await enqueueBackfill(
      ['--export-id', id, '--start', iso(base), '--end', iso(base + 2 * HOUR)],
      { REDIS_URL: testEnv.REDIS_URL, QUEUE_PREFIX: sys.prefix },
      { write: (s: string) => ((out += s), true) } as never,
      { write: () => true } as never,
    );
    expect(code).to.equal(0);
    expect(out).to.match(/backfill [0-9a-f-]{36}: 2 intervals/);
    expect(out).to.contain(`export ${id} is paused: its runs wait until it is unpaused`);
  });

  it('enqueue-backfill --wait exits 1 when runs fail', async () => {
    sys.startWorker(2);
    const id = await createExport({}, 'no-such-bucket-cli');
    const cli = join(__dirname, '..', '..', 'services', 'cli', 'dist', 'enqueue-backfill.js');
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        process.execPath,
        [cli, '--export-id', id, '--start', iso(base), '--end', iso(base + 2 * HOUR), '--wait', '--poll-ms', '100'],
        {
          env: { ...process.env, REDIS_URL: testEnv.REDIS_URL, QUEUE_PREFIX: sys.prefix },
          stdio: 'ignore',
        },
      );
      child.on('exit', resolve);
    });
    expect(code).to.equal(1);
  });
});

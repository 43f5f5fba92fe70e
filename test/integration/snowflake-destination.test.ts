import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { EventRow } from '@bx/core';
import type { EventBatch, RunContext } from '@bx/batch';
import { SnowflakeDestination, type SnowflakeDestinationOptions } from '@bx/destination-snowflake';
import { asRows, chTime, makeEvent, rowBatches, type SourceEvent } from '../helpers/events';
import { MemoryRunState, runContext } from '../helpers/run-context';
import {
  byUuid,
  snowflakeConfig,
  startSnowflakeServer,
  storedRow,
  tmpDir,
  type SnowflakeServer,
} from '../helpers/snowflake';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const TABLE = 'ANALYTICS.PUBLIC.events';

const batches = (rows: EventRow[], size = 50) => rowBatches(rows, size);
/**
 * A file size limit that splits the interval's 1.2 MB of zstd into several
 * files: zstd holds up to a block (128 KiB of input) before its output shows,
 * so a file closes within a block and a batch past the limit.
 */
const SPLIT = 128 * 1024;

/** Resolves once `condition` holds, checked every 10 ms. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 10));
}

describe('Snowflake destination on the Snowflake test bed', function () {
  this.timeout(30_000);
  let server: SnowflakeServer;
  let state: MemoryRunState;
  const local = tmpDir();
  const events = Array.from({ length: 600 }, (_, i) =>
    makeEvent({
      inserted_at: chTime(new Date(span.start + i * 5000).toISOString()),
      event: i % 3 ? '$pageview' : 'it\'s "quoted"\n',
      // Random text: compresses about as badly as real properties, so files roll at the size limit.
      properties: JSON.stringify({ n: i, pad: randomBytes(1500).toString('base64'), nested: { a: [i] } }),
    }),
  );
  // Rows the runs of this interval must leave alone: the same team's next interval, another team's same interval.
  const neighbours = [
    makeEvent({ inserted_at: chTime('2024-01-01T11:00:00Z') }),
    makeEvent({ inserted_at: chTime('2024-01-01T10:30:00Z'), team_id: 2 }),
  ];

  const sut = (options: Partial<SnowflakeDestinationOptions> = {}) =>
    new SnowflakeDestination(snowflakeConfig(server), { tmpDir: local, ...options });
  const ctx = (attempt = 1, overrides: Partial<RunContext> = {}): RunContext => ({
    ...runContext(span, state),
    attempt,
    ...overrides,
  });
  const stored = () => server.rows(TABLE).sort(byUuid);
  const expected = (list: SourceEvent[]) => list.map(storedRow).sort(byUuid);

  beforeEach(async () => {
    server = await startSnowflakeServer({ users: { loader: 'loader-password' } });
    state = new MemoryRunState();
  });
  afterEach(async () => {
    await server.close();
    expect(fs.readdirSync(local), 'local files are removed').to.deep.equal([]);
  });
  after(() => fs.rmSync(local, { recursive: true, force: true }));

  /** Loads the neighbours through their own runs, then the interval's events. */
  async function loadWithNeighbours(): Promise<void> {
    await sut().write(batches(asRows([neighbours[0]!])), ctx(1, { runId: 'next', dataIntervalStart: span.end }));
    await sut().write(batches(asRows([neighbours[1]!])), ctx(1, { runId: 'team-2', teamId: 2 }));
    await sut().write(batches(asRows(events)), ctx());
  }

  it('creates the table and loads the interval through bounded zstd files, PUT and one COPY', async () => {
    const result = await sut({ maxFileBytes: SPLIT }).write(batches(asRows(events)), ctx());
    expect(server.columns(TABLE)).to.deep.equal([
      { name: 'uuid', type: 'TEXT' },
      { name: 'event', type: 'TEXT' },
      { name: 'properties', type: 'VARIANT' },
      { name: 'distinct_id', type: 'TEXT' },
      { name: 'team_id', type: 'FIXED' },
      { name: 'timestamp', type: 'TIMESTAMP_NTZ' },
      { name: 'created_at', type: 'TIMESTAMP_NTZ' },
      { name: 'inserted_at', type: 'TIMESTAMP_NTZ' },
      { name: 'elements_chain', type: 'TEXT' },
      { name: 'person_id', type: 'TEXT' },
      { name: 'person_properties', type: 'VARIANT' },
    ]);
    expect(stored()).to.deep.equal(expected(events));
    expect(result.records).to.equal(600);
    expect(result.files.length, 'split into several files').to.be.greaterThan(3);
    // A file closes at the first batch that takes it past the limit, with at most a block held back.
    expect(result.bytes / result.files.length).to.be.below(SPLIT + 128 * 1024 + 50 * 2500);
    expect(result.files.every((f) => /^bx\/r1\/1-[0-9a-f]{8}\/part-\d+\.jsonl\.zst$/.test(f))).to.equal(true);
    const puts = server.queries.filter((q) => q.startsWith('PUT '));
    expect(puts).to.have.length(result.files.length);
    expect(puts.every((q) => q.includes('AUTO_COMPRESS = FALSE SOURCE_COMPRESSION = ZSTD'))).to.equal(true);
    const copies = server.queries.filter((q) => q.startsWith('COPY INTO'));
    expect(copies).to.have.length(1);
    // The test bed decompresses with the codec named: gzip bytes would fail this COPY.
    expect(copies[0]).to.contain("COMPRESSION = 'ZSTD'");
    expect(copies[0]).to.contain('MATCH_BY_COLUMN_NAME = CASE_SENSITIVE').and.contain('PURGE = TRUE');
    const history = server.loadHistory(TABLE);
    expect(history.map((h) => h.file)).to.have.members(result.files);
    expect(result.bytes).to.be.greaterThan(0);
    expect(server.stagedFiles(TABLE), 'PURGE emptied the stage').to.deep.equal([]);
    expect(server.sessions(), 'the session is closed').to.deep.equal([]);
  });

  it('an empty interval writes nothing and does not even connect', async () => {
    expect(await sut().write(batches([]), ctx())).to.deep.equal({ records: 0, bytes: 0, files: [] });
    expect(server.logins).to.deep.equal([]);
  });

  it('a re-run with the same attempt number and identical files loads them again, once (COPY load metadata)', async () => {
    await loadWithNeighbours();
    // A manual retry starts again at attempt 1 and writes byte-identical zstd files.
    const again = await sut().write(batches(asRows(events)), ctx(1));
    expect(stored()).to.deep.equal(expected([...events, ...neighbours]));
    expect(again.records).to.equal(600);
    const loads = server.loadHistory(TABLE).filter((h) => h.file.startsWith('bx/r1/'));
    expect(loads, 'each attempt loaded from its own folder').to.have.length(2);
    expect(loads[0]!.checksum, 'the same bytes both times').to.equal(loads[1]!.checksum);
  });

  it('a re-run with different source rows replaces exactly the interval of the team', async () => {
    await loadWithNeighbours();
    const changed = [...events.slice(0, 100), makeEvent({ inserted_at: chTime('2024-01-01T10:59:59Z') })];
    await sut().write(batches(asRows(changed)), ctx(2));
    expect(stored()).to.deep.equal(expected([...changed, ...neighbours]));
    // And an empty re-run: the state says rows may be there, so they go.
    await sut().write(batches([]), ctx(3));
    expect(stored()).to.deep.equal(expected(neighbours));
  });

  it('loads properties whose objects have a key twice, keeping the last value (ALLOW_DUPLICATE = TRUE)', async () => {
    // Snowflake's JSON parser refuses an object with a key twice unless the file format allows it,
    // and ON_ERROR = ABORT_STATEMENT then failed the interval on every attempt. ClickHouse holds such
    // text as any other, and JSON Lines and Postgres keep it (JSONB keeps the last value).
    const twice = [
      makeEvent({ inserted_at: chTime('2024-01-01T10:10:00Z'), properties: '{"a":1,"a":2}' }),
      makeEvent({
        inserted_at: chTime('2024-01-01T10:11:00Z'),
        properties: '{"n":{"k":"x","\\u006b":"y"},"list":[{"a":1},{"a":2}]}',
        person_properties: '{"email":"a@b","email":"c@d"}',
      }),
    ];
    const result = await sut().write(batches(asRows(twice)), ctx());
    expect(result.records).to.equal(2);
    expect(stored()).to.deep.equal(expected(twice));
    expect(stored().map((r) => r.properties)).to.deep.include.members([{ a: 2 }]);
  });

  it('after a crash between PUT and COPY, the next attempt removes the staged files and loads once', async () => {
    // The first attempt stages its files, then never gets to load them: its BEGIN never returns,
    // and it gives up without cleaning up, as a killed worker would.
    server.faults.stall({ sql: /^BEGIN/ });
    const crashed = sut({ maxFileBytes: SPLIT, timeouts: { statementMs: 800, requestMs: 5000, loginRetries: 1 } });
    const err = await crashed.write(batches(asRows(events)), ctx(1)).catch((e: unknown) => e);
    expect(err).to.include({ retryable: true, code: 'Timeout' });
    const left = server.stagedFiles(TABLE);
    expect(left.length).to.be.greaterThan(3);
    expect(server.rows(TABLE)).to.deep.equal([]);
    server.faults.releaseStalled();

    await sut().write(batches(asRows(events)), ctx(2));
    expect(stored()).to.deep.equal(expected(events));
    expect(server.stagedFiles(TABLE)).to.deep.equal([]);
    expect(server.queries).to.include('REMOVE @%"events"/bx/r1/');
  });

  it('a failed COPY rolls the deletion back: the earlier load stays, once, until a retry succeeds', async () => {
    await loadWithNeighbours();
    server.faults.queryError({
      sql: /^COPY INTO/,
      code: '000603',
      sqlState: 'XX000',
      message: 'SQL execution internal error:\nProcessing aborted due to error 300010:391167117',
    });
    const err = await sut()
      .write(batches(asRows(events.slice(0, 10))), ctx(2))
      .catch((e: unknown) => e);
    expect(err).to.include({ retryable: true, code: 'InternalError' });
    expect((err as Error).message).to.contain('Processing aborted due to error 300010');
    expect(stored()).to.deep.equal(expected([...events, ...neighbours]));
    const copy = server.queries.findLastIndex((q) => q.startsWith('COPY INTO'));
    expect(server.queries[copy + 1]).to.equal('ROLLBACK');
    await sut().write(batches(asRows(events.slice(0, 10))), ctx(3));
    expect(stored()).to.deep.equal(expected([...events.slice(0, 10), ...neighbours]));
  });

  it('a COPY that ran but whose answer was lost is rolled back, and the retry loads once', async () => {
    server.faults.crashAfter({ sql: /^COPY INTO/, mode: 'error' });
    const err = await sut()
      .write(batches(asRows(events)), ctx(1))
      .catch((e: unknown) => e);
    expect(err).to.include({ retryable: true });
    expect(server.rows(TABLE)).to.deep.equal([]);
    await sut().write(batches(asRows(events)), ctx(2));
    expect(stored()).to.deep.equal(expected(events));
  });

  // Snowflake applies a statement, then the connection drops before its answer, at each step of a
  // re-run's load: whatever that attempt made of it, the table holds every event once, then and
  // after the next attempt, and nothing is left staged.
  for (const [step, sql] of [
    ['PUT', /^PUT/],
    ['DELETE', /^DELETE/],
    ['COPY INTO', /^COPY INTO/],
    ['COMMIT', /^COMMIT/],
  ] as const) {
    it(`a connection dropped after ${step} ran: the interval's events stay in the table once`, async () => {
      await sut({ maxFileBytes: SPLIT }).write(batches(asRows(events)), ctx(1));
      server.faults.crashAfter({ sql, mode: 'drop' });
      const dropped = await sut({ maxFileBytes: SPLIT })
        .write(batches(asRows(events)), ctx(2))
        .then(
          (result) => ({ records: result.records }),
          (err: unknown) => ({ retryable: (err as { retryable?: boolean }).retryable }),
        );
      expect(server.queryLog.some((q) => q.outcome === 'dropped')).to.equal(true);
      expect(dropped).to.satisfy(
        (d: { records?: number; retryable?: boolean }) => d.records === events.length || d.retryable === true,
      );
      expect(stored()).to.deep.equal(expected(events));
      await sut({ maxFileBytes: SPLIT }).write(batches(asRows(events)), ctx(3));
      expect(stored()).to.deep.equal(expected(events));
      expect(server.stagedFiles(TABLE)).to.deep.equal([]);
    });
  }

  it("a file's PUT runs while the next file is written, one PUT at a time", async () => {
    server.faults.stall({ sql: /^PUT/ });
    let taken = 0;
    async function* counted(): AsyncGenerator<EventBatch> {
      for await (const batch of batches(asRows(events))) {
        taken++;
        yield batch;
      }
    }
    const load = sut({ maxFileBytes: SPLIT }).write(counted(), ctx());
    const held = () => server.queryLog.filter((q) => q.sql.startsWith('PUT') && q.outcome === 'pending').length;
    const spooled = () =>
      fs
        .readdirSync(local, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.zst'));
    await until(() => held() === 1);
    // The next file is written while the first one's PUT is held...
    await until(() => spooled().some((f) => f.endsWith('part-1.jsonl.zst')));
    // ...until it is complete: then the writer waits for that PUT (no batch taken for 200 ms).
    for (let last = -1, still = 0; still < 20; still = taken === last ? still + 1 : 0) {
      last = taken;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(held(), 'one PUT at a time').to.equal(1);
    expect(spooled(), 'at most two files on disk').to.have.length(2);
    expect(taken).to.be.below(events.length / 50);
    server.faults.releaseStalled();
    const result = await load;
    expect(stored()).to.deep.equal(expected(events));
    expect(result.files.length).to.be.greaterThan(3);
  });

  it('rows are read and written while the session logs in and checks the table', async () => {
    server.faults.stall({ sql: /^USE WAREHOUSE/ });
    let taken = 0;
    async function* counted(): AsyncGenerator<EventBatch> {
      for await (const batch of batches(asRows(events))) {
        taken++;
        yield batch;
      }
    }
    const held = () => server.queryLog.filter((q) => q.sql.startsWith('USE') && q.outcome === 'pending').length;
    const load = sut().write(counted(), ctx());
    await until(() => held() === 1);
    // Every batch goes into the file while the session is not ready yet.
    await until(() => taken === events.length / 50);
    expect(held(), 'the session is still held').to.equal(1);
    expect(server.queries.filter((q) => q.startsWith('PUT'))).to.deep.equal([]);
    server.faults.releaseStalled();
    await load;
    expect(stored()).to.deep.equal(expected(events));
  });

  it('a PUT that fails while the next file is written fails the run, leaving nothing staged or on disk', async () => {
    server.faults.queryError({ sql: /^PUT/, nth: 2, code: '000603', sqlState: 'XX000', message: 'PUT failed' });
    const err = await sut({ maxFileBytes: SPLIT })
      .write(batches(asRows(events)), ctx())
      .catch((e: unknown) => e);
    expect(err).to.include({ retryable: true });
    expect((err as Error).message).to.contain('PUT failed');
    expect(server.queries.filter((q) => q.startsWith('COPY'))).to.deep.equal([]);
    expect(server.stagedFiles(TABLE), 'the failed attempt removed its files').to.deep.equal([]);
  });

  it('a 503 on a request is retried (by the SDK) and the load completes; a stalled response too', async () => {
    server.faults.httpError({ status: 503, path: /query-request/, nth: 4 });
    server.faults.stall({ sql: /^COPY INTO/ });
    await sut({ timeouts: { statementMs: 20_000, requestMs: 1000, loginRetries: 1 } }).write(
      batches(asRows(events)),
      ctx(),
    );
    expect(stored()).to.deep.equal(expected(events));
    expect(server.queryLog.filter((q) => q.outcome === 'http-error')).to.have.length(1);
    // The held COPY ended when the SDK gave up on it and closed its connection: never executed.
    expect(server.queryLog.filter((q) => q.sql.startsWith('COPY')).map((q) => q.outcome)).to.deep.equal([
      'abandoned',
      'ok',
    ]);
  });

  it('gives up on a Snowflake that answers 503 forever, at its own deadline, as retryable', async () => {
    server.faults.httpError({ status: 503, path: /query-request/, sql: /^COPY/, times: Infinity });
    const started = Date.now();
    const err = await sut({ timeouts: { statementMs: 2500, requestMs: 1000, loginRetries: 1 } })
      .write(batches(asRows(events)), ctx())
      .catch((e: unknown) => e);
    expect(err).to.include({ retryable: true, code: 'Timeout' });
    expect(Date.now() - started).to.be.below(10_000);
    expect(server.rows(TABLE)).to.deep.equal([]);
  });
});

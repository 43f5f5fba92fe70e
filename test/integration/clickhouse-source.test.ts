import { expect } from 'chai';
import { ClickHouseSource, columnTypes, decodeRowBinary } from '@bx/clickhouse';
import { buildEventsQuery, eventsLayout } from '@bx/model-events';
import { eventsFormat, Field, FieldEncoding, type EventBatch } from '@bx/batch';
import { toRecordLine, PermanentError, RetryableError, type EventRow } from '@bx/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { EVENTS_DDL_MODERN, eventBatches, TestClickHouse } from '../helpers/clickhouse';
import { chdbSession, type ChdbSession } from '../modern-engine/chdb';
import { testEnv } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { eventually } from '../helpers/processes';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy';
import { queryRowBinary } from '../../packages/clickhouse/src/http-query';

const START = '2024-01-01T10:00:00Z';
const END = '2024-01-01T11:00:00Z';
const HOSTILE = ["it's", 'back\\slash', "'; DROP TABLE events; --", '日本語 🎉', 'quote"double', 'new\nline'];

const endpoint = () => ({ url: testEnv.CLICKHOUSE_URL, username: 'default', password: '' });

async function collect(source: ClickHouseSource, sql: string): Promise<EventRow[]> {
  const rows: EventRow[] = [];
  for await (const batch of source.batches(sql)) rows.push(...batch.rows());
  return rows;
}

describe('ClickHouse source on the real ClickHouse 18.16 server', () => {
  let ch: TestClickHouse;
  let sut: ClickHouseSource;
  const query = (overrides: Partial<Parameters<typeof buildEventsQuery>[0]> = {}) =>
    buildEventsQuery({
      database: ch.database,
      table: ch.table,
      intervalColumn: 'inserted_at',
      teamId: 1,
      start: Date.parse(START),
      end: Date.parse(END),
      ...overrides,
    });

  before(async () => {
    ch = await new TestClickHouse().setup();
    sut = new ClickHouseSource({
      url: testEnv.CLICKHOUSE_URL,
      username: 'default',
      password: '',
      requestTimeoutMs: 30_000,
      batchBytes: 256 * 1024,
    });
  });
  after(async () => {
    await sut.close();
    await ch.drop();
  });

  it('selects [start, end) of ingestion time for the team only', async () => {
    const inside = [
      makeEvent({ uuid: '00000000-0000-4000-8000-000000000001', inserted_at: chTime(START) }),
      makeEvent({ uuid: '00000000-0000-4000-8000-000000000002', inserted_at: chTime('2024-01-01T10:59:59Z') }),
      // timestamp days older than ingestion: exported by ingestion time
      makeEvent({
        uuid: '00000000-0000-4000-8000-000000000003',
        inserted_at: chTime('2024-01-01T10:30:00Z'),
        timestamp: chTime('2023-12-20T00:00:00Z'),
      }),
    ];
    const outside = [
      makeEvent({ inserted_at: chTime(END) }),
      makeEvent({ inserted_at: chTime('2024-01-01T09:59:59Z') }),
      makeEvent({ inserted_at: chTime('2024-01-01T10:30:00Z'), team_id: 2 }),
      makeEvent({ inserted_at: null, timestamp: chTime('2024-01-01T10:30:00Z') }),
    ];
    await ch.insert([...inside, ...outside]);
    const rows = await collect(sut, query());
    expect(rows.map((r) => r.uuid).sort()).to.deep.equal(inside.map((e) => e.uuid).sort());
  });

  it('filters by hostile event names through escaping, matching them exactly', async () => {
    const at = chTime('2024-01-01T10:15:00Z');
    await ch.insert(HOSTILE.map((event) => makeEvent({ event, inserted_at: at, team_id: 3 })));
    await ch.insert([makeEvent({ event: 'other', inserted_at: at, team_id: 3 })]);
    for (const name of HOSTILE) {
      const rows = await collect(sut, query({ teamId: 3, includeEvents: [name] }));
      expect(
        rows.map((r) => r.event),
        name,
      ).to.deep.equal([name]);
    }
    const excluded = await collect(sut, query({ teamId: 3, excludeEvents: HOSTILE }));
    expect(excluded.map((r) => r.event)).to.deep.equal(['other']);
    const count = await ch.client.query({
      query: `SELECT count() AS n FROM ${ch.database}.events`,
      format: 'JSONEachRow',
    });
    expect(Number(((await count.json()) as Array<{ n: string }>)[0]!.n)).to.be.greaterThan(0);
  });

  it('hands out hostile values exactly, and writes records from the wire bytes as toRecordLine does', async () => {
    const at = chTime('2024-01-01T10:05:00Z');
    const control = Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).join('');
    const events = [
      makeEvent({ inserted_at: at, team_id: 5, event: `quote" back\\ ${control}`, distinct_id: '日本語 🎉 \u2028' }),
      makeEvent({ inserted_at: at, team_id: 5, properties: 'not json', person_properties: '' }),
      makeEvent({ inserted_at: at, team_id: 5, properties: '{\n "multi": "line"\n}', elements_chain: 'a:href="/x";b' }),
      makeEvent({ inserted_at: at, team_id: 5, properties: JSON.stringify({ big: 'x'.repeat(3_000_000) }) }),
      makeEvent({ inserted_at: at, team_id: 5, properties: JSON.stringify({ u: 'Zoë\u0001"\\/' }) }),
    ];
    await ch.insert(events);
    const batches = [];
    for await (const batch of sut.batches(query({ teamId: 5 }))) batches.push(batch);
    const rows = batches.flatMap((b) => b.rows());
    const byUuid = new Map(rows.map((r) => [r.uuid, r]));
    for (const e of events) {
      expect(byUuid.get(e.uuid), e.uuid).to.deep.equal({ ...e, team_id: '5' });
    }
    const records = batches.map((b) => b.records().toString()).join('');
    expect(records).to.equal(rows.map((r) => toRecordLine(r) + '\n').join(''));
  });

  it('reads UUIDs and timestamps binary where the table stores them so, into the rows and records of their text', async () => {
    const at = chTime('2024-01-01T10:07:00Z');
    const events = [
      makeEvent({ inserted_at: at, team_id: 6, timestamp: '1970-01-01 00:00:01', created_at: '2100-12-31 23:59:59' }),
      makeEvent({ inserted_at: at, team_id: 6, uuid: 'ffffffff-ffff-ffff-ffff-ffffffffffff' }),
      makeEvent({ inserted_at: at, team_id: 6, person_id: '0189a1d4-0000-7000-8000-00000000000a' }),
    ];
    await ch.insert(events);
    const q = {
      database: ch.database,
      table: ch.table,
      intervalColumn: 'inserted_at',
      teamId: 6,
      start: Date.parse(START),
      end: Date.parse(END),
    };
    const types = await columnTypes(endpoint(), ch.database, ch.table, { timeoutMs: 10_000 });
    const layout = eventsLayout(types);
    expect([...layout]).to.deep.equal([
      FieldEncoding.UUID,
      0,
      0,
      0,
      0,
      FieldEncoding.DATE_TIME,
      FieldEncoding.DATE_TIME,
      FieldEncoding.DATE_TIME,
      0,
      FieldEncoding.UUID,
      0,
    ]);
    expect(buildEventsQuery(q, layout, types))
      .to.contain('SELECT uuid, event')
      .and.not.contain('toString');
    const binary = [];
    for await (const batch of eventBatches(sut, q)) binary.push(batch);
    const text = [];
    for await (const batch of sut.batches(buildEventsQuery(q))) text.push(batch);
    expect(binary.every((b) => b.layout[Field.uuid] === FieldEncoding.UUID)).to.equal(true);
    const sorted = (rows: EventRow[]) => rows.sort((a, b) => a.uuid.localeCompare(b.uuid));
    expect(sorted(binary.flatMap((b) => b.rows()))).to.deep.equal(sorted(text.flatMap((b) => b.rows())));
    expect(sorted(binary.flatMap((b) => b.rows()))).to.deep.equal(sorted(events.map((e) => ({ ...e, team_id: '6' }))));
    const lines = (batches: EventBatch[]) => batches.flatMap((b) => b.records().toString().trim().split('\n')).sort();
    expect(lines(binary)).to.deep.equal(lines(text));
    // The one value whose text differs: 18.16 writes the epoch's DateTime as 0000-00-00 00:00:00 (modern servers
    // as 1970-01-01 00:00:00); read binary, it is the instant it is.
    await ch.insert([makeEvent({ inserted_at: at, team_id: 7, timestamp: '1970-01-01 00:00:00' })]);
    const [epoch] = await collect(sut, buildEventsQuery({ ...q, teamId: 7 }));
    expect(epoch!.timestamp).to.equal('0000-00-00 00:00:00');
    for await (const batch of eventBatches(sut, { ...q, teamId: 7 })) {
      expect(batch.row(0).timestamp).to.equal('1970-01-01 00:00:00');
      expect(JSON.parse(batch.records().toString()).timestamp).to.equal('1970-01-01T00:00:00+00:00');
    }
  });

  it('reads UUIDs and timestamps stored as text as text', async () => {
    await ch.client.command({
      query: `CREATE TABLE ${ch.database}.text_events (
        uuid String, event String, properties String, timestamp String, team_id Int64, distinct_id String,
        elements_chain String, created_at String, person_id String, person_properties String,
        inserted_at Nullable(DateTime('UTC'))
      ) ENGINE = MergeTree() ORDER BY team_id`,
    });
    const e = makeEvent({ inserted_at: chTime('2024-01-01T10:08:00Z'), team_id: 1 });
    await ch.client.insert({ table: `${ch.database}.text_events`, values: [e], format: 'JSONEachRow' });
    const q = { database: ch.database, table: 'text_events', intervalColumn: 'inserted_at', teamId: 1 };
    const rows = [];
    for await (const batch of eventBatches(sut, { ...q, start: Date.parse(START), end: Date.parse(END) })) {
      expect(batch.layout[Field.uuid]).to.equal(FieldEncoding.TEXT);
      expect(batch.layout[Field.inserted_at]).to.equal(FieldEncoding.DATE_TIME);
      rows.push(...batch.rows());
    }
    expect(rows).to.deep.equal([{ ...e, team_id: '1' }]);
  });

  it('streams large intervals in batches', async () => {
    const at = chTime('2024-01-01T10:45:00Z');
    await ch.insert(Array.from({ length: 9000 }, () => makeEvent({ inserted_at: at, team_id: 4 })));
    let batches = 0;
    let rows = 0;
    for await (const batch of sut.batches(query({ teamId: 4 }))) {
      batches++;
      rows += batch.count;
    }
    expect(rows).to.equal(9000);
    expect(batches).to.be.greaterThan(1);
  });

  it('cuts a query that stalls (no data for the idle timeout) with a retryable error', async () => {
    const proxy = await new TcpFaultProxy(Number(new URL(testEnv.CLICKHOUSE_URL).port)).start();
    const stalled = new ClickHouseSource({
      url: `http://127.0.0.1:${proxy.port}`,
      username: 'default',
      password: '',
      requestTimeoutMs: 30_000,
      idleTimeoutMs: 400,
    });
    try {
      proxy.fault = 'stall-responses';
      const began = Date.now();
      const err = await collect(stalled, query()).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(RetryableError);
      expect((err as RetryableError).code).to.equal('ClickHouseStalled');
      expect(Date.now() - began).to.be.below(10_000);
    } finally {
      await stalled.close();
      await proxy.stop();
    }
  });

  it('does not count a slow consumer (back-pressure) as a stalled query', async () => {
    // The idle limit bounds how long ClickHouse is silent, at the query's start too (tens of ms here,
    // and several times that on a loaded machine), so it is kept well above that. The consumer holds two batches for twice the limit each, while the reader, at most a batch
    // ahead, has paused the socket (the answer is many times what it may hold): a limit that counted
    // that wait, or the socket's silence meanwhile, would cut the query.
    const idleTimeoutMs = 1000;
    const sut2 = new ClickHouseSource({
      url: testEnv.CLICKHOUSE_URL,
      username: 'default',
      password: '',
      requestTimeoutMs: 30_000,
      idleTimeoutMs,
      batchBytes: 64 * 1024,
      readAheadBytes: 64 * 1024,
    });
    let rows = 0;
    let bytes = 0;
    let held = 0;
    for await (const batch of sut2.batches(query({ teamId: 4 }))) {
      rows += batch.count;
      bytes += batch.bytes.length;
      if (held++ < 2) await new Promise((r) => setTimeout(r, 2 * idleTimeoutMs));
    }
    await sut2.close();
    expect(rows).to.equal(9000);
    expect(bytes).to.be.greaterThan(8 * (64 + 64) * 1024);
  });

  it('fails permanently on a missing table, naming it', async () => {
    const err = await collect(sut, query({ table: 'no_such_table' })).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.contain('no_such_table');
  });
});

describe('the ClickHouse HTTP reader (plain sockets read into batch buffers) on the real server', () => {
  let ch: TestClickHouse;
  let proxy: TcpFaultProxy;
  const chPort = () => Number(new URL(testEnv.CLICKHOUSE_URL).port);
  const source = (overrides: Partial<ConstructorParameters<typeof ClickHouseSource>[0]> = {}) =>
    new ClickHouseSource({
      url: `http://127.0.0.1:${proxy.port}`,
      username: 'default',
      password: '',
      requestTimeoutMs: 30_000,
      batchBytes: 16 * 1024,
      ...overrides,
    });
  const query = (teamId: number) =>
    buildEventsQuery({
      database: ch.database,
      table: ch.table,
      intervalColumn: 'inserted_at',
      teamId,
      start: Date.parse(START),
      end: Date.parse(END),
    });
  const control = Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).join('');
  const small = Array.from({ length: 60 }, (_, i) =>
    makeEvent({
      inserted_at: chTime('2024-01-01T10:10:00Z'),
      team_id: 1,
      event: `${HOSTILE[i % HOSTILE.length]} ${control} ${i}`,
      properties: JSON.stringify({ i, pad: 'p'.repeat(i * 37) }),
    }),
  );
  const many = Array.from({ length: 6000 }, (_, i) =>
    makeEvent({
      inserted_at: chTime('2024-01-01T10:20:00Z'),
      team_id: 2,
      distinct_id: `user-${i}`,
      properties: JSON.stringify({ i, pad: 'q'.repeat(300) }),
    }),
  );
  const byUuid = (rows: EventRow[]) => rows.map((r) => r.uuid).sort();

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert([...small, ...many]);
    proxy = await new TcpFaultProxy(chPort()).start();
  });
  afterEach(() => {
    proxy.fault = 'none';
  });
  after(async () => {
    await proxy.stop();
    await ch.drop();
  });

  it('reads the same rows when the answer comes in pieces of 1 to 64 bytes (headers and chunk framing split anywhere)', async () => {
    const sut = source();
    const direct = await collect(sut, query(1));
    proxy.fault = 'dribble';
    const dribbled = await collect(sut, query(1));
    expect(dribbled).to.deep.equal(direct);
    expect(byUuid(dribbled)).to.deep.equal(small.map((e) => e.uuid).sort());
  });

  it('reads an answer that trickles in slower than a batch per idle timeout to its end: data keeps it alive', async () => {
    // 2 KiB every 100 ms (~20 KiB/s): a 64 KiB batch takes ~3 s to arrive, three times the idle limit,
    // yet ClickHouse is never silent for longer than 100 ms. The limit is for a query that sends nothing.
    const sut = source({ idleTimeoutMs: 1000, batchBytes: 64 * 1024 });
    const direct = await collect(sut, query(1));
    proxy.fault = 'trickle';
    proxy.trickleBytes = 2048;
    proxy.trickleEveryMs = 100;
    const began = Date.now();
    const trickled = await collect(sut, query(1));
    expect(Date.now() - began).to.be.above(2000);
    expect(byUuid(trickled)).to.deep.equal(byUuid(direct));
    expect(trickled).to.have.length(small.length);
    await sut.close();
  });

  it('waits for the first row while ClickHouse sends progress headers, past the idle limit, up to the answer timeout', async () => {
    // The product asks for progress headers (send_progress_in_http_headers) so that a query that
    // runs long before its first row keeps its connection busy; CLICKHOUSE_QUERY_TIMEOUT_MS bounds
    // that wait. Here the headers stay open 2.5 s, a progress line every 200 ms, idle limit 1 s.
    const sut = source({ idleTimeoutMs: 1000 });
    proxy.fault = 'progress-first';
    proxy.progressForMs = 2500;
    const began = Date.now();
    const rows = await collect(sut, query(1));
    expect(Date.now() - began).to.be.above(2000);
    expect(byUuid(rows)).to.deep.equal(small.map((e) => e.uuid).sort());
    await sut.close();
    // Progress alone does not wait past the answer timeout.
    const bounded = source({ idleTimeoutMs: 1000, requestTimeoutMs: 1500 });
    const err = await collect(bounded, query(1)).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RetryableError).with.property('code', 'ClickHouseTimeout');
    await bounded.close();
  });

  it('fails, retryably, an answer cut anywhere: in the headers, in a row, at a chunk boundary, before the last chunk', async () => {
    const sut = source();
    proxy.forwarded = 0;
    await collect(sut, query(1));
    const total = proxy.forwarded;
    // 5 bytes before the end: "0\r\n\r\n", the last chunk, is all that is missing.
    const cuts = [20, 150, 300, 4000, 4096 + 150, Math.floor(total / 2), total - 7, total - 5, total - 1];
    proxy.fault = 'cut';
    for (const cut of cuts) {
      proxy.cutAfter = cut;
      const err = await collect(sut, query(1)).then(
        (rows) => new Error(`cut at ${cut} of ${total}: ${rows.length} rows and no error`),
        (e: unknown) => e,
      );
      expect(err, `cut at ${cut} of ${total}`).to.be.instanceOf(RetryableError);
    }
  });

  it('reads ahead of a slow consumer only up to its limit, then resumes, every row delivered once', async () => {
    const limit = 64 * 1024;
    const sut = queryRowBinary(
      { url: testEnv.CLICKHOUSE_URL, username: 'default', password: '' },
      query(2) + '\nFORMAT RowBinary',
      {
        batchBytes: 16 * 1024,
        readAheadBytes: limit,
        answerTimeoutMs: 30_000,
        settings: {},
      },
    );
    const seen: EventRow[] = [];
    let answer = 0;
    const take = async () => {
      const batch = await sut.take();
      if (batch) {
        seen.push(...batch.rows());
        answer += batch.bytes.length;
      }
      return batch;
    };
    await take();
    // A busy consumer: the reader stops at its limit (a read may pass it by one batch and the read room).
    // Waited for, not slept on: on a loaded machine the answer's next bytes may take a while.
    await eventually(async () => (sut.buffered >= limit ? true : undefined), 30_000, 'the reader to reach its limit');
    expect(sut.buffered)
      .to.be.at.least(limit)
      .and.at.most(limit + 16 * 1024 + 256 * 1024);
    const held = sut.buffered;
    await new Promise((r) => setTimeout(r, 100));
    expect(sut.buffered).to.equal(held);
    let batches = 1;
    while (await take()) batches++;
    expect(answer).to.be.greaterThan(5 * (limit + 16 * 1024 + 256 * 1024));
    expect(batches).to.be.greaterThan(5);
    expect(byUuid(seen)).to.deep.equal(many.map((e) => e.uuid).sort());
  });

  it('reuses batch memory when asked to, each batch still holding exactly its rows while it is the current one', async () => {
    const sut = source({ batchBytes: 32 * 1024 });
    const memories = new Set<ArrayBufferLike>();
    const seen: string[] = [];
    let batches = 0;
    for await (const batch of sut.batches(query(2), undefined, { reuseBuffers: true })) {
      memories.add(batch.bytes.buffer);
      batches++;
      for (const row of batch.rows()) seen.push(row.uuid);
    }
    expect(seen.sort()).to.deep.equal(many.map((e) => e.uuid).sort());
    expect(batches).to.be.greaterThan(10);
    expect(memories.size).to.be.below(batches / 2);
  });

  it('reads over TLS (https URL), through a TLS proxy in front of the server', async () => {
    const fixtures = join(__dirname, '..', 'fixtures', 'tls');
    const cert = readFileSync(join(fixtures, 'cert.pem'));
    const server = createTlsServer({ key: readFileSync(join(fixtures, 'key.pem')), cert }, (tls) => {
      const upstream = connect(chPort(), '127.0.0.1');
      tls.pipe(upstream).pipe(tls);
      tls.on('error', () => upstream.destroy());
      upstream.on('error', () => tls.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const sut = source({ url: `https://localhost:${port}`, tls: { ca: cert } });
      expect(byUuid(await collect(sut, query(2)))).to.deep.equal(many.map((e) => e.uuid).sort());
      // The column types are read over TLS too, with the same options.
      const binary: EventRow[] = [];
      const q = { database: ch.database, table: ch.table, intervalColumn: 'inserted_at', teamId: 2 };
      for await (const batch of eventBatches(sut, { ...q, start: Date.parse(START), end: Date.parse(END) })) {
        expect(batch.layout[Field.uuid]).to.equal(FieldEncoding.UUID);
        binary.push(...batch.rows());
      }
      expect(byUuid(binary)).to.deep.equal(many.map((e) => e.uuid).sort());
      const untrusted = await collect(source({ url: `https://localhost:${port}` }), query(2)).catch((e: unknown) => e);
      expect(untrusted).to.be.instanceOf(RetryableError);
      expect((untrusted as Error).message).to.match(/self[- ]signed certificate/);
    } finally {
      server.close();
    }
  });

  it('names what ClickHouse said for a refused login, and a server that is not there', async () => {
    const wrong = await collect(source({ url: testEnv.CLICKHOUSE_URL, password: 'wrong' }), query(1)).catch(
      (e: unknown) => e,
    );
    expect((wrong as Error).message).to.match(/^ClickHouse: Code: 19\d.*password/i);
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const port = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    const down = await collect(source({ url: `http://127.0.0.1:${port}` }), query(1)).catch((e: unknown) => e);
    expect(down).to.be.instanceOf(RetryableError);
    expect((down as RetryableError).code).to.equal('ClickHouseUnavailable');
    expect((down as Error).message).to.contain('ECONNREFUSED');
  });

  it('stops at once when the run is aborted mid-answer, and when no answer begins in time', async () => {
    const sut = source({ readAheadBytes: 32 * 1024 });
    const abort = new AbortController();
    const it = sut.batches(query(2), abort.signal);
    expect((await it.next()).done).to.equal(false);
    abort.abort();
    const aborted = await it.next().catch((e: unknown) => e);
    expect(aborted).to.be.instanceOf(RetryableError);
    expect((aborted as RetryableError).code).to.equal('Aborted');
    proxy.fault = 'stall-responses';
    const began = Date.now();
    const late = await collect(source({ requestTimeoutMs: 300, idleTimeoutMs: 20_000 }), query(2)).catch(
      (e: unknown) => e,
    );
    expect((late as RetryableError).code).to.equal('ClickHouseTimeout');
    expect(Date.now() - began).to.be.below(5_000);
  });
});

describe('the same query on a modern engine (chdb, DateTime64(6))', () => {
  let dir: string;
  let session: ChdbSession;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bx-chdb-'));
    session = chdbSession(dir);
    session.query('CREATE DATABASE IF NOT EXISTS analytics');
    session.query(EVENTS_DDL_MODERN('analytics', 'events'));
  });
  after(() => {
    session?.cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bounds by microseconds: start included, end - 1µs included, end excluded', async () => {
    const rows: Array<[string, string, string]> = [
      ['00000000-0000-4000-8000-00000000000a', '2024-01-01 10:00:00.000000', 'in'],
      ['00000000-0000-4000-8000-00000000000b', '2024-01-01 10:59:59.999999', 'in'],
      ['00000000-0000-4000-8000-00000000000c', '2024-01-01 11:00:00.000000', 'out'],
      ['00000000-0000-4000-8000-00000000000d', '2024-01-01 09:59:59.999999', 'out'],
    ];
    for (const [uuid, at, event] of rows) {
      session.query(
        `INSERT INTO analytics.events VALUES ('${uuid}', '${event}', '{"a":1}', '${at}', 1, 'd', '', '${at}', '${uuid}', '', '${at}')`,
      );
    }
    const sql = buildEventsQuery({
      database: 'analytics',
      table: 'events',
      intervalColumn: 'inserted_at',
      teamId: 1,
      start: Date.parse(START),
      end: Date.parse(END),
      includeEvents: ['in', 'out', "it's"],
    });
    const out = await session.queryAsync(`${sql}\nFORMAT RowBinary`, { format: 'RowBinary' });
    const batch = decodeRowBinary(Buffer.from(out.bytes()));
    // The same rows with UUIDs and DateTime64(6) read binary, as the types in chdb's system.columns say.
    const types = JSON.parse(
      `[${String(session.query("SELECT name, type FROM system.columns WHERE database = 'analytics' AND table = 'events'", 'JSONEachRow')).trim().split('\n').join(',')}]`,
    ) as Array<{ name: string; type: string }>;
    const typeMap = new Map(types.map((t) => [t.name, t.type]));
    const layout = eventsLayout(typeMap);
    expect(layout[Field.timestamp]).to.equal(FieldEncoding.DATE_TIME64 | (6 << 4));
    expect(layout[Field.inserted_at]).to.equal(FieldEncoding.DATE_TIME64 | (6 << 4));
    expect(layout[Field.person_id]).to.equal(FieldEncoding.UUID);
    const q = { database: 'analytics', table: 'events', intervalColumn: 'inserted_at', teamId: 1 } as const;
    const binarySql = buildEventsQuery(
      { ...q, start: Date.parse(START), end: Date.parse(END), includeEvents: ['in', 'out', "it's"] },
      layout,
      typeMap,
    );
    const binaryOut = await session.queryAsync(`${binarySql}\nFORMAT RowBinary`, { format: 'RowBinary' });
    const binary = decodeRowBinary(Buffer.from(binaryOut.bytes()), eventsFormat(layout));
    const byId = (rows: EventRow[]) => rows.sort((a, b) => a.uuid.localeCompare(b.uuid));
    expect(byId(binary.rows())).to.deep.equal(byId(batch.rows()));
    const lines = (b: EventBatch) => b.records().toString().trim().split('\n').sort();
    expect(lines(binary)).to.deep.equal(lines(batch));
    const got = batch.rows();
    expect(got.map((r) => r.uuid).sort()).to.deep.equal([
      '00000000-0000-4000-8000-00000000000a',
      '00000000-0000-4000-8000-00000000000b',
    ]);
    const records = batch.records().toString().trim().split('\n');
    expect(records).to.deep.equal(got.map(toRecordLine));
    const record = JSON.parse(records[got.findIndex((r) => r.uuid.endsWith('b'))]!);
    expect(record.inserted_at).to.equal('2024-01-01T10:59:59.999999+00:00');
    expect(record.timestamp).to.equal('2024-01-01T10:59:59.999999+00:00');
    expect(record.team_id).to.equal(1);
  });
});

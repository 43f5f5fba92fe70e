import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { EventBatch } from '@bx/batch';
import { BatchExportError, PermanentError, RetryableError } from '@bx/core';
import {
  checkPostgres,
  createEventsTableSql,
  createReceiptsTableSql,
  PostgresConnection,
  PostgresDestination,
  type PostgresConfig,
  type PostgresDestinationOptions,
} from '@bx/destination-postgres';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { runContext } from '../helpers/run-context';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const CA = readFileSync(join(__dirname, '..', 'fixtures', 'tls', 'cert.pem'), 'utf8');

describe('Postgres destination: errors, check() and TLS on the real PostgreSQL server', function () {
  this.timeout(60_000);
  let pg: TestPostgres;
  const events = Array.from({ length: 200 }, (_, i) =>
    makeEvent({ inserted_at: chTime(new Date(span.start + i * 10_000).toISOString()) }),
  );
  const rows = asRows(events);
  const sut = (config: Partial<PostgresConfig> = {}, options: Partial<PostgresDestinationOptions> = {}) =>
    new PostgresDestination(pg.config(config), options);
  const check = (config: Partial<PostgresConfig> = {}) => checkPostgres(pg.config(config));
  const write = (config: Partial<PostgresConfig> = {}, options: Partial<PostgresDestinationOptions> = {}) =>
    sut(config, options).write(rowBatches(rows, 50), runContext(span));
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => expect.fail('expected a failure'),
      (e: unknown) => e as BatchExportError,
    );
  const count = async () =>
    (await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.schema}"."events"`)).rows[0].n as number;
  const loadSession = `application_name = 'bx r1'`;

  before(async () => {
    pg = await new TestPostgres().setup();
  });
  after(async () => pg.drop());
  beforeEach(async () => {
    await pg.admin.query(`DROP TABLE IF EXISTS "${pg.schema}"."events"`);
  });

  /** Batches that stop after the first 100 rows (COPY under way) until `release`. */
  function stalled() {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    async function* batches(): AsyncGenerator<EventBatch> {
      yield* rowBatches(rows.slice(0, 100), 50);
      await released;
      yield* rowBatches(rows.slice(100), 50);
    }
    return { batches: batches(), release };
  }

  async function waitFor(condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const sessionIs = (where: string) => async () =>
    (await pg.admin.query(`SELECT 1 FROM pg_stat_activity WHERE ${loadSession} AND ${where}`)).rows.length > 0;

  describe('permanent', () => {
    it('a wrong password (28P01), in a run and in check()', async () => {
      for (const err of [await failure(write({ password: 'wrong' })), await failure(check({ password: 'wrong' }))]) {
        expect(err).to.be.instanceOf(PermanentError).with.property('code', 'AuthenticationFailed');
        expect(err.message).to.contain('28P01');
      }
    });

    it('an unknown database (3D000)', async () => {
      const err = await failure(write({ database: 'no_such_database' }));
      expect(err).to.be.instanceOf(PermanentError).with.property('code', 'DatabaseNotFound');
      expect(err.message).to.contain('3D000');
      expect(await failure(check({ database: 'no_such_database' }))).to.be.instanceOf(PermanentError);
    });

    it('an unknown schema (3F000)', async () => {
      for (const err of [
        await failure(write({ schema: 'no_such_schema' })),
        await failure(check({ schema: 'no_such_schema' })),
      ]) {
        expect(err).to.be.instanceOf(PermanentError).with.property('code', 'SchemaNotFound');
        expect(err.message).to.contain('"no_such_schema" does not exist');
      }
    });

    it('a missing privilege (42501): no CREATE in the schema, or no INSERT on the table', async () => {
      const reader = await pg.role((u) => [`GRANT USAGE ON SCHEMA "${pg.schema}" TO "${u}"`]);
      for (const err of [await failure(write(reader)), await failure(check(reader))]) {
        expect(err).to.be.instanceOf(PermanentError).with.property('code', 'InsufficientPrivilege');
        expect(err.message).to.contain('42501');
      }
      await write();
      await pg.admin.query(`GRANT SELECT ON "${pg.schema}"."events" TO "${reader.user}"`);
      const err = await failure(check(reader));
      expect(err).to.be.instanceOf(PermanentError).with.property('code', 'InsufficientPrivilege');
      expect(await failure(write(reader))).to.have.property('code', 'InsufficientPrivilege');
      expect(await count()).to.equal(rows.length);
    });
  });

  describe('check()', () => {
    it('a user that may create the table passes, and the table is not left behind', async () => {
      const writer = await pg.role((u) => [`GRANT USAGE, CREATE ON SCHEMA "${pg.schema}" TO "${u}"`]);
      await check(writer);
      const { rows: found } = await pg.admin.query(`SELECT to_regclass($1) AS t`, [`"${pg.schema}"."events"`]);
      expect(found[0].t).to.equal(null);
      await sut(writer).write(rowBatches(rows, 50), runContext(span));
      await check(writer);
    });

    it('needs the receipts table too: creatable, or there and writable (batch_export_receipts)', async () => {
      await write();
      const loader = await pg.role((u) => [
        `GRANT USAGE ON SCHEMA "${pg.schema}" TO "${u}"`,
        `GRANT SELECT, INSERT, DELETE ON "${pg.schema}"."events" TO "${u}"`,
      ]);
      const err = await failure(check(loader));
      expect(err).to.be.instanceOf(PermanentError).with.property('code', 'InsufficientPrivilege');
      expect(err.message).to.contain('42501');
      await pg.admin.query(createReceiptsTableSql(pg.schema));
      await pg.admin.query(
        `GRANT SELECT, INSERT, UPDATE ON "${pg.schema}"."batch_export_receipts" TO "${loader.user}"`,
      );
      await check(loader);
      const { rows: left } = await pg.admin.query(`SELECT 1 FROM "${pg.schema}"."batch_export_receipts"`);
      expect(left).to.have.length(0);
    });

    it('passes while a run is creating the table: it waits for the creation, then checks the table', async () => {
      const creator = await pg.session();
      await creator.query('BEGIN');
      // What a run's creation does (events-table-session.ts), held open.
      await creator.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `bx:create:"${pg.schema}"."events"`,
      ]);
      for (const sql of createEventsTableSql(pg.schema, 'events')) await creator.query(sql);
      const checked = check();
      await waitFor(async () => {
        const { rows: waiting } = await pg.admin.query(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = 'bx check' AND wait_event_type = 'Lock'`,
        );
        return waiting.length > 0;
      });
      await creator.query('COMMIT');
      await checked;
    });

    it('an existing table that cannot hold the events fails it, naming the column', async () => {
      await pg.admin.query(`CREATE TABLE "${pg.schema}"."events" (uuid int)`);
      const err = await failure(check());
      expect(err).to.be.instanceOf(PermanentError).with.property('code', 'IncompatibleTable');
      expect(err.message).to.contain('column "uuid" is integer').and.contain('column "event" is missing');
    });
  });

  describe('retryable', () => {
    it('a refused connection', async () => {
      const server = createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      await new Promise<void>((r) => server.close(() => r()));
      const err = await failure(write({ port }));
      expect(err).to.be.instanceOf(RetryableError).with.property('code', 'NetworkError');
    });

    it('a connection reset mid-COPY leaves the rows of the last load', async () => {
      await write();
      const proxy = await new TcpFaultProxy(pg.config().port).start();
      try {
        const { batches, release } = stalled();
        const run = failure(sut({ port: proxy.port }).write(batches, runContext(span)));
        await waitFor(sessionIs(`query LIKE 'COPY%'`));
        proxy.resetAll();
        release();
        expect(await run).to.be.instanceOf(RetryableError);
        expect(await count()).to.equal(rows.length);
      } finally {
        await proxy.stop();
      }
    });

    it('a server that stops answering mid-load (hung, frozen) fails the attempt instead of holding it', async () => {
      await write();
      const proxy = await new TcpFaultProxy(pg.config().port).start();
      try {
        const { batches, release } = stalled();
        const run = failure(
          sut({ port: proxy.port }, { quietMs: 500, connectMs: 1000 }).write(batches, runContext(span)),
        );
        await waitFor(sessionIs(`query LIKE 'COPY%'`));
        // From now on the server's answers are lost, new sessions' logins included: a hung server.
        proxy.fault = 'stall-responses';
        release();
        const hung = new Promise((resolve) => setTimeout(() => resolve('still waiting after 15 s'), 15_000));
        const err = await Promise.race([run, hung]);
        expect(err).to.be.instanceOf(RetryableError).with.property('code', 'ServerHung');
        expect((err as Error).message).to.match(/PostgreSQL stopped answering/);
        expect(await count()).to.equal(rows.length);
      } finally {
        await proxy.stop();
      }
    });

    it('a server that is only busy (silent through a long statement) is waited for', async () => {
      await write();
      const other = await pg.session();
      await other.query('BEGIN');
      await other.query(`LOCK TABLE "${pg.schema}"."events" IN ACCESS EXCLUSIVE MODE`);
      // The load waits in silence on the lock for 2 s, four times its quiet period: probes find the server alive.
      const run = sut({}, { quietMs: 500, connectMs: 1000 }).write(rowBatches(rows, 50), runContext(span));
      await waitFor(sessionIs(`wait_event_type = 'Lock'`));
      await new Promise((r) => setTimeout(r, 2000));
      await other.query('ROLLBACK');
      expect((await run).records).to.equal(rows.length);
    });

    it('a busy server behind a pooler that logs probes in but queues their SELECT 1 is waited for', async () => {
      await write();
      const proxy = await new TcpFaultProxy(pg.config().port).start();
      const other = await pg.session();
      try {
        await other.query('BEGIN');
        await other.query(`LOCK TABLE "${pg.schema}"."events" IN ACCESS EXCLUSIVE MODE`);
        const run = sut({ port: proxy.port }, { quietMs: 500, connectMs: 1000 }).write(
          rowBatches(rows, 50),
          runContext(span),
        );
        await waitFor(sessionIs(`wait_event_type = 'Lock'`));
        // New sessions (the probes) log in, but their statements wait in the pooler's queue.
        proxy.queueQueriesOfNewConnections = true;
        const probed = proxy.accepted;
        let ended = false;
        run.then(
          () => (ended = true),
          () => (ended = true),
        );
        // Waits through several probes (or the load's end, which would be a failure below).
        await waitFor(async () => ended || proxy.accepted >= probed + 3);
        await other.query('ROLLBACK');
        expect((await run).records).to.equal(rows.length);
      } finally {
        await other.query('ROLLBACK').catch(() => undefined);
        await proxy.stop();
      }
    });

    it('admin_shutdown (57P01): the session ended by the server mid-COPY', async () => {
      await write();
      const { batches, release } = stalled();
      const run = failure(sut().write(batches, runContext(span)));
      await waitFor(sessionIs(`query LIKE 'COPY%'`));
      await pg.admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${loadSession}`);
      release();
      const err = await run;
      // The server's 57P01 if the driver reads it before its next COPY write fails on the closed
      // socket (EPIPE, ECONNRESET) or the close itself: a race, retryable whichever comes first.
      expect(err).to.be.instanceOf(RetryableError);
      expect(['AdminShutdown', 'NetworkError', 'ConnectionError']).to.include((err as RetryableError).code);
      expect(await count()).to.equal(rows.length);
    });

    it('lock timeout (55P03): another session holds the table past lock_timeout', async () => {
      await write();
      const other = await pg.session();
      await other.query('BEGIN');
      await other.query(`LOCK TABLE "${pg.schema}"."events" IN ACCESS EXCLUSIVE MODE`);
      const err = await failure(write({}, { lockMs: 300 }));
      expect(err).to.be.instanceOf(RetryableError).with.property('code', 'LockTimeout');
      expect(err.message).to.contain('55P03');
      await other.query('ROLLBACK');
      await write({}, { lockMs: 300 });
      expect(await count()).to.equal(rows.length);
    });

    it('deadlock (40P01): the load and another session wait for each other', async () => {
      await write();
      const other = await pg.session();
      // The other session checks for deadlocks late: the load is the one PostgreSQL aborts.
      await other.query(`SET deadlock_timeout = '10s'`);
      await other.query('BEGIN');
      await other.query(`UPDATE "${pg.schema}"."events" SET event = 'held' WHERE uuid = $1`, [events[0]!.uuid]);
      const run = failure(write());
      await waitFor(sessionIs(`wait_event_type = 'Lock'`));
      const key = `bx:"${pg.schema}"."events":1:${span.start}`;
      const locked = other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
      const err = await run;
      expect(err).to.be.instanceOf(RetryableError).with.property('code', 'DeadlockDetected');
      await locked;
      await other.query('ROLLBACK');
      expect(await count()).to.equal(rows.length);
    });

    it('serialization failure (40001): a row of the interval changed by a transaction that commits first', async () => {
      await write();
      const serializable = await pg.role((u) => [
        `GRANT USAGE ON SCHEMA "${pg.schema}" TO "${u}"`,
        `GRANT SELECT, INSERT, DELETE ON "${pg.schema}"."events" TO "${u}"`,
        `ALTER ROLE "${u}" SET default_transaction_isolation = 'serializable'`,
      ]);
      const other = await pg.session();
      await other.query('BEGIN');
      await other.query(`UPDATE "${pg.schema}"."events" SET event = 'changed' WHERE uuid = $1`, [events[0]!.uuid]);
      const run = failure(write(serializable));
      await waitFor(sessionIs(`wait_event_type = 'Lock'`));
      await other.query('COMMIT');
      const err = await run;
      expect(err).to.be.instanceOf(RetryableError).with.property('code', 'SerializationFailure');
      expect(err.message).to.contain('40001');
    });
  });

  describe('sslmode (the test server has TLS on, with the certificate of test/fixtures/tls)', () => {
    const ssl = async (config: Partial<PostgresConfig>) => {
      const conn = await PostgresConnection.open(pg.config(config), {
        connectMs: 10_000,
        lockMs: 1000,
        statementMs: 0,
        applicationName: 'bx tls test',
      });
      try {
        const { rows: found } = await conn.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', 'ssl');
        return found[0]!.ssl as boolean;
      } finally {
        await conn.close();
      }
    };

    it('disable: a plain connection; require: an encrypted one, certificate unchecked', async () => {
      expect(await ssl({ sslmode: 'disable' })).to.equal(false);
      expect(await ssl({ sslmode: 'require' })).to.equal(true);
      await write({ sslmode: 'require' });
      expect(await count()).to.equal(rows.length);
    });

    it('verify-full trusts ca_cert for the host (and its IP address); without it a self-signed certificate fails permanently', async () => {
      expect(await ssl({ sslmode: 'verify-full', ca_cert: CA })).to.equal(true);
      expect(await ssl({ sslmode: 'verify-full', ca_cert: CA, host: 'localhost' })).to.equal(true);
      const err = await failure(write({ sslmode: 'verify-full' }));
      expect(err).to.be.instanceOf(PermanentError).with.property('code', 'CertificateRejected');
      expect(err.message).to.contain('ca_cert').and.contain('sslmode require');
      expect(await failure(check({ sslmode: 'verify-full' }))).to.have.property('code', 'CertificateRejected');
    });
  });
});

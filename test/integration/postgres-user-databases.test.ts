import { expect } from 'chai';
import { Client } from 'pg';
import { PermanentError, type BatchExportError } from '@bx/core';
import { checkPostgres, PostgresDestination, type PostgresConfig } from '@bx/destination-postgres';
import { uniqueName } from '../helpers/env';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { adminConfig, TestPostgres } from '../helpers/postgres';
import { runContext } from '../helpers/run-context';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const at = (s: number) => chTime(new Date(span.start + s * 1000).toISOString());
const failure = (p: Promise<unknown>) =>
  p.then(
    () => expect.fail('expected a failure'),
    (e: unknown) => e as BatchExportError,
  );

/**
 * Databases and tables that users bring, on the real PostgreSQL server: a
 * database in another encoding than UTF8, a table with a unique index of
 * its own on uuid.
 */
describe('Postgres destination: the databases and tables users bring', function () {
  this.timeout(60_000);
  let pg: TestPostgres;

  before(async () => {
    pg = await new TestPostgres().setup();
  });
  after(async () => pg.drop());

  describe('a database not in UTF8', () => {
    const databases: string[] = [];
    after(async () => {
      for (const db of databases) await pg.admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
    });

    /** A new database in `encoding` with a schema `s`; the config of its table `events`. */
    async function database(encoding: string): Promise<PostgresConfig> {
      const name = uniqueName('bx_enc').replace(/-/g, '_');
      await pg.admin.query(`CREATE DATABASE "${name}" TEMPLATE template0 ENCODING '${encoding}' LOCALE 'C'`);
      databases.push(name);
      const client = new Client({ ...adminConfig(), database: name });
      await client.connect();
      await client.query('CREATE SCHEMA s');
      await client.end();
      return pg.config({ database: name, schema: 's' });
    }

    for (const encoding of ['LATIN1', 'SQL_ASCII']) {
      // check() said ok; then each run with a character outside LATIN1 (or a \u escape JSONB cannot
      // convert to SQL_ASCII) failed for ever with 22P05 (or 0A000).
      it(`${encoding}: the destination test fails, naming the encoding and what it needs`, async () => {
        const config = await database(encoding);
        const err = await failure(checkPostgres(config));
        expect(err).to.be.instanceOf(PermanentError).with.property('code', 'DatabaseEncoding');
        expect(err.message).to.contain(encoding).and.contain("ENCODING 'UTF8'");
      });
    }

    it('LATIN1: a run that meets a character LATIN1 cannot hold fails, naming the encoding', async () => {
      const config = await database('LATIN1');
      const rows = asRows([makeEvent({ inserted_at: at(1), properties: '{"emoji":"😀"}' })]);
      const err = await failure(new PostgresDestination(config).write(rowBatches(rows, 10), runContext(span)));
      expect(err).to.be.instanceOf(PermanentError);
      expect(err.message).to.contain('22P05').and.contain('LATIN1').and.contain("ENCODING 'UTF8'");
    });
  });

  describe("a table with the user's unique index on uuid", () => {
    // ClickHouse keeps every insert: an event sent twice (a client retry) is two rows with one uuid.
    it('duplicate source rows: the run fails permanently, naming the index, the key and why', async () => {
      const config = pg.config({ table_name: 'uniq' });
      const first = makeEvent({ inserted_at: at(1) });
      const rows = asRows([first, makeEvent({ inserted_at: at(2) }), { ...first, inserted_at: at(3) }]);
      await new PostgresDestination(config).write(rowBatches(rows.slice(0, 2), 10), runContext(span));
      await pg.admin.query(`CREATE UNIQUE INDEX "Uniq UUID" ON "${pg.schema}"."uniq" ("uuid")`);
      const err = await failure(new PostgresDestination(config).write(rowBatches(rows, 10), runContext(span)));
      expect(err).to.be.instanceOf(PermanentError).with.property('code', 'ConstraintViolation');
      expect(err.message)
        .to.contain('23505')
        .and.contain('Uniq UUID')
        .and.contain(first.uuid)
        .and.contain('ClickHouse holds rows with the same key');
      // The interval's rows of the earlier run are still there, as they were.
      const { rows: kept } = await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.schema}"."uniq"`);
      expect(kept[0].n).to.equal(2);
    });
  });
});

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import {
  EVENTS_DDL,
  connect,
  destroy,
  event,
  exec,
  rejection,
  startSnowflakeServer,
  tmpDir,
  writeJsonlGz,
  type SnowflakeServer,
} from '../helpers/snowflake';

// The test bed's SQL (test/snowflake-server, see its NOTES.md): stages and
// COPY load metadata, DML, transactions, and loud failures on what it does not model.

type Conn = Awaited<ReturnType<typeof connect>>;

/**
 * Hooks of a describe: before its tests, a test bed with the events table in
 * "db"."schema" and a connection to it (given to `use`); after them, both
 * closed and `dir` (its local files) removed.
 */
function withEventsTable(dir: string, use: (sut: SnowflakeServer, conn: Conn) => void): void {
  let sut: SnowflakeServer;
  let conn: Conn;
  before(async () => {
    sut = await startSnowflakeServer();
    conn = await connect(sut, { database: '"db"', schema: '"schema"' });
    await exec(conn, EVENTS_DDL);
    use(sut, conn);
  });
  after(async () => {
    await destroy(conn);
    await sut.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

describe('Snowflake test bed: PUT + COPY INTO', () => {
  const COPY = (prefix: string, extra = '') =>
    `COPY INTO "events" FROM '@%"events"/${prefix}/' FILE_FORMAT = (TYPE = 'JSON' COMPRESSION='GZIP') MATCH_BY_COLUMN_NAME = CASE_SENSITIVE ${extra}`;
  const PUT = (file: string, prefix: string) =>
    `PUT 'file://${file}' @%"events"/${prefix}/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE`;
  let sut: SnowflakeServer;
  let conn: Conn;
  const dir = tmpDir();

  withEventsTable(dir, (server, connection) => ([sut, conn] = [server, connection]));

  it('PUT places the file in the table stage via the LOCAL_FS stage type', async () => {
    const file = writeJsonlGz(dir, 'part-0.jsonl.gz', [event(0), event(1), event(2)]);
    const rows = await exec(conn, PUT(file, 'run-1'));
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ source: 'part-0.jsonl.gz', status: 'UPLOADED' });
    expect(sut.stagedFiles('events')).to.deep.equal(['run-1/part-0.jsonl.gz']);
    const onDisk = fs.readdirSync(sut.stageRoot, { recursive: true }).map(String);
    expect(onDisk.some((f) => f.endsWith(path.join('run-1', 'part-0.jsonl.gz')))).to.equal(true);
  });

  it('COPY loads the rows and answers one LOADED row per file', async () => {
    const file = writeJsonlGz(dir, 'part-1.jsonl.gz', [event(3), event(4)]);
    await exec(conn, PUT(file, 'run-1'));
    const result = await exec(conn, COPY('run-1'));
    expect(result.map((r) => [r.file, r.status, r.rows_parsed, r.rows_loaded, r.errors_seen])).to.deep.equal([
      ['run-1/part-0.jsonl.gz', 'LOADED', 3, 3, 0],
      ['run-1/part-1.jsonl.gz', 'LOADED', 2, 2, 0],
    ]);
    expect(await exec(conn, 'SELECT COUNT(*) FROM "events"')).to.deep.equal([{ 'COUNT(*)': 5 }]);
    const stored = sut.rows('db.schema.events').find((r) => r.uuid === 'uuid-3')!;
    expect(stored.properties).to.deep.equal(event(3).properties);
    expect(stored.timestamp).to.equal('2024-01-04T10:00:00.123459Z'); // NTZ keeps wall clock, µs
    expect(stored.team_id).to.equal(2);
    expect(stored.person_properties).to.equal(null);
    // Through the SDK: timestamps come back as Date-like SfDate objects, variants parsed.
    const [viaSdk] = await exec(conn, `SELECT * FROM "events" WHERE "uuid" = 'uuid-3'`);
    expect(viaSdk.timestamp).to.be.instanceOf(Date);
    expect(viaSdk.timestamp.toISOString()).to.equal('2024-01-04T10:00:00.123Z');
    expect(viaSdk.properties).to.deep.equal(event(3).properties);
  });

  it('skips files already loaded into the table (load metadata)', async () => {
    expect(await exec(conn, COPY('run-1'))).to.deep.equal([{ status: 'Copy executed with 0 files processed.' }]);
    expect(sut.rows('events')).to.have.length(5);
    // Same name, different content: the checksum differs, so the file loads again.
    await exec(conn, PUT(writeJsonlGz(dir, 'part-1.jsonl.gz', [event(5)]), 'run-1'));
    const again = await exec(conn, COPY('run-1'));
    expect(again.map((r) => [r.file, r.rows_loaded])).to.deep.equal([['run-1/part-1.jsonl.gz', 1]]);
    expect(sut.loadHistory('events').map((h) => [h.file, h.rows])).to.deep.equal([
      ['run-1/part-0.jsonl.gz', 3],
      ['run-1/part-1.jsonl.gz', 1],
    ]);
  });

  it('FORCE = TRUE reloads files regardless of load metadata', async () => {
    expect(await exec(conn, COPY('run-1', 'FORCE = TRUE'))).to.have.length(2);
    expect(sut.rows('events')).to.have.length(10);
  });

  it('PURGE = TRUE removes loaded files from the stage, only under the given prefix', async () => {
    await exec(conn, PUT(writeJsonlGz(dir, 'a.jsonl.gz', [event(10)]), 'run-2'));
    const result = await exec(conn, COPY('run-2', 'PURGE = TRUE'));
    expect(result[0].file).to.equal('run-2/a.jsonl.gz');
    expect(sut.stagedFiles('events')).to.deep.equal(['run-1/part-0.jsonl.gz', 'run-1/part-1.jsonl.gz']);
    expect(sut.rows('events')).to.have.length(11);
  });

  it('AUTO_COMPRESS=TRUE on plain JSONL: the SDK gzips to <name>.gz, COPY still reads it', async () => {
    const plain = path.join(dir, 'plain.jsonl');
    fs.writeFileSync(plain, JSON.stringify(event(20)) + '\n');
    const [put] = await exec(conn, `PUT 'file://${plain}' @%"events"/run-3/ AUTO_COMPRESS=TRUE`);
    expect(put.target).to.equal('plain.jsonl.gz');
    const [copied] = await exec(conn, COPY('run-3'));
    expect(copied.rows_loaded).to.equal(1);
  });

  it('loads into another table stage and fails loudly on bad input', async () => {
    await exec(conn, 'CREATE TABLE "stage_table" LIKE "events"');
    const file = writeJsonlGz(dir, 'bad.jsonl.gz', [event(30)]);
    fs.appendFileSync(file, Buffer.from([0x1f, 0x8b, 0x00])); // corrupt trailing gzip member
    await exec(conn, `PUT 'file://${file}' @%"stage_table"/x/ AUTO_COMPRESS=FALSE`);
    const err = await rejection(
      exec(
        conn,
        `COPY INTO "stage_table" FROM '@%"stage_table"/x/' FILE_FORMAT = (TYPE = 'JSON' COMPRESSION = 'GZIP') MATCH_BY_COLUMN_NAME = CASE_SENSITIVE`,
      ),
    );
    expect(err.code).to.equal('100109');
    expect(sut.rows('stage_table'), 'ABORT_STATEMENT: nothing loaded').to.have.length(0);
    expect((await rejection(exec(conn, `PUT 'file://${file}' @%"missing"/x/`))).code).to.equal('002003');
    const csv = await rejection(
      exec(conn, `COPY INTO "stage_table" FROM @%"stage_table"/x/ FILE_FORMAT = (TYPE = 'CSV')`),
    );
    expect(csv).to.include({ code: '001003', sqlState: '42000' });
  });

  it('LIST and REMOVE operate on the table stage', async () => {
    const listed = await exec(conn, `LIST @%"events"/run-1/`);
    expect(listed.map((r) => r.name)).to.deep.equal(['run-1/part-0.jsonl.gz', 'run-1/part-1.jsonl.gz']);
    const removed = await exec(conn, `REMOVE @%"events"/run-1/ PATTERN = '.*part-0.*'`);
    expect(removed).to.deep.equal([{ name: 'run-1/part-0.jsonl.gz', result: 'removed' }]);
    expect(sut.stagedFiles('events')).to.deep.equal(['run-1/part-1.jsonl.gz', 'run-3/plain.jsonl.gz']);
  });

  it('DROP TABLE drops its stage and load metadata', async () => {
    await exec(conn, 'DROP TABLE IF EXISTS "stage_table"');
    expect(sut.tables()).to.not.include('db.schema.stage_table');
    await exec(conn, 'CREATE TABLE "stage_table" LIKE "events"');
    expect(sut.stagedFiles('stage_table')).to.deep.equal([]);
    expect(sut.loadHistory('stage_table')).to.deep.equal([]);
  });
});

describe("Snowflake test bed: compressed files (COPY's COMPRESSION)", () => {
  const lines = (rows: object[]) => Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const CODECS: Record<string, (b: Buffer) => Buffer> = {
    ZSTD: (b) => zstdCompress(b),
    GZIP: (b) => zlib.gzipSync(b),
    BROTLI: (b) => zlib.brotliCompressSync(b),
    DEFLATE: (b) => zlib.deflateSync(b),
    RAW_DEFLATE: (b) => zlib.deflateRawSync(b),
    NONE: (b) => b,
  };
  const COPY = (prefix: string, compression: string) =>
    `COPY INTO "events" FROM '@%"events"/${prefix}/' FILE_FORMAT = (TYPE = 'JSON' COMPRESSION = ${compression}) MATCH_BY_COLUMN_NAME = CASE_SENSITIVE PURGE = TRUE`;
  let sut: SnowflakeServer;
  let conn: Conn;
  const dir = tmpDir();

  /** PUTs the rows compressed with `codec` as `<prefix>/<name>`, as the destination does (no client compression). */
  async function stage(prefix: string, name: string, codec: string, rows: object[]): Promise<void> {
    const file = path.join(dir, name);
    fs.writeFileSync(file, CODECS[codec]!(lines(rows)));
    // snowflake-sdk 3.3 looks SOURCE_COMPRESSION up by MIME subtype and knows no `brotli` or `raw_deflate`:
    // the other files go as AUTO_DETECT, which leaves a file it does not recognise as it is.
    const source = codec === 'ZSTD' || codec === 'GZIP' ? codec : 'AUTO_DETECT';
    const [put] = await exec(
      conn,
      `PUT 'file://${file}' @%"events"/${prefix}/ AUTO_COMPRESS = FALSE SOURCE_COMPRESSION = ${source} OVERWRITE = TRUE`,
    );
    expect(put).to.include({ status: 'UPLOADED', target: name });
  }

  withEventsTable(dir, (server, connection) => ([sut, conn] = [server, connection]));

  it('loads a zstd file named ZSTD, and one of several frames', async () => {
    await stage('z', 'part-0.jsonl.zst', 'ZSTD', [event(0), event(1)]);
    const twoFrames = Buffer.concat([zstdCompress(lines([event(2)])), zstdCompress(lines([event(3)]))]);
    fs.writeFileSync(path.join(dir, 'part-1.jsonl.zst'), twoFrames);
    await exec(
      conn,
      `PUT 'file://${path.join(dir, 'part-1.jsonl.zst')}' @%"events"/z/ AUTO_COMPRESS = FALSE SOURCE_COMPRESSION = ZSTD`,
    );
    const result = await exec(conn, COPY('z', "'ZSTD'"));
    expect(result.map((r) => [r.file, r.status, r.rows_loaded])).to.deep.equal([
      ['z/part-0.jsonl.zst', 'LOADED', 2],
      ['z/part-1.jsonl.zst', 'LOADED', 2],
    ]);
    const stored = sut.rows('events').find((r) => r.uuid === 'uuid-1')!;
    expect(stored.properties).to.deep.equal(event(1).properties);
  });

  it('AUTO (the default) detects gzip and zstd by their first bytes and reads other files as they are', async () => {
    await stage('auto', 'a.jsonl.zst', 'ZSTD', [event(10)]);
    await stage('auto', 'b.jsonl.gz', 'GZIP', [event(11), event(12)]);
    await stage('auto', 'c.jsonl', 'NONE', [event(13)]);
    const result = await exec(
      conn,
      `COPY INTO "events" FROM '@%"events"/auto/' FILE_FORMAT = (TYPE = 'JSON') MATCH_BY_COLUMN_NAME = CASE_SENSITIVE`,
    );
    expect(result.map((r) => [r.file, r.rows_loaded])).to.deep.equal([
      ['auto/a.jsonl.zst', 1],
      ['auto/b.jsonl.gz', 2],
      ['auto/c.jsonl', 1],
    ]);
  });

  it('loads brotli, deflate (zlib) and raw deflate files when COPY names the codec', async () => {
    for (const codec of ['BROTLI', 'DEFLATE', 'RAW_DEFLATE']) {
      await stage(codec.toLowerCase(), 'f.jsonl', codec, [event(20), event(21), event(22)]);
      const [copied] = await exec(conn, COPY(codec.toLowerCase(), codec));
      expect(copied, codec).to.include({ status: 'LOADED', rows_loaded: 3 });
    }
  });

  it('a file that does not decompress with the codec named fails the COPY, loading nothing', async () => {
    const before = sut.rows('events').length;
    await stage('wrong', 'gzip.jsonl.gz', 'GZIP', [event(30)]);
    const asZstd = await rejection(exec(conn, COPY('wrong', 'ZSTD')));
    expect(asZstd).to.include({ code: '100109', sqlState: '22000' });
    expect(asZstd.message).to.contain("compression type used: 'ZSTD'");
    await exec(conn, `REMOVE @%"events"/wrong/`);
    await stage('wrong', 'zstd.jsonl.zst', 'ZSTD', [event(31)]);
    const asGzip = await rejection(exec(conn, COPY('wrong', 'GZIP')));
    expect(asGzip.message).to.contain("compression type used: 'GZIP'");
    expect(sut.rows('events')).to.have.length(before);
    expect(sut.stagedFiles('events'), 'nothing purged').to.include('wrong/zstd.jsonl.zst');
  });

  it('refuses BZ2 (not modelled) and a compression Snowflake does not have', async () => {
    expect(await rejection(exec(conn, COPY('wrong', 'BZ2')))).to.include({ code: '001003', sqlState: '42000' });
    const lz4 = await rejection(exec(conn, COPY('wrong', 'LZ4')));
    expect(lz4).to.include({ code: '001003' });
    expect(lz4.message).to.contain('syntax error');
  });
});

describe('Snowflake test bed: a COPY that keeps no rows (keepLoadedRows: false)', () => {
  it('counts the rows of each file, records the load and purges, holding none of them', async () => {
    const sut = await startSnowflakeServer({ keepLoadedRows: false });
    const conn = await connect(sut, { database: '"db"', schema: '"schema"' });
    const dir = tmpDir();
    try {
      await exec(conn, EVENTS_DDL);
      const file = path.join(dir, 'big.jsonl.zst');
      // Blank lines are not rows; the last line has no newline.
      const text = [event(1), event(2), event(3)].map((e) => JSON.stringify(e)).join('\n \n') + '\n\n{"uuid":"u4"}';
      fs.writeFileSync(file, zstdCompress(Buffer.from(text)));
      const since = performance.now();
      await exec(conn, `PUT 'file://${file}' @%"events"/p/ AUTO_COMPRESS = FALSE SOURCE_COMPRESSION = ZSTD`);
      const [copied] = await exec(
        conn,
        `COPY INTO "events" FROM '@%"events"/p/' FILE_FORMAT = (TYPE = 'JSON' COMPRESSION = 'ZSTD') MATCH_BY_COLUMN_NAME = CASE_SENSITIVE PURGE = TRUE`,
      );
      expect(copied).to.include({ file: 'p/big.jsonl.zst', status: 'LOADED', rows_parsed: 4, rows_loaded: 4 });
      expect(sut.rows('events')).to.deep.equal([]);
      expect(sut.loadHistory('events').map((h) => h.rows)).to.deep.equal([4]);
      expect(sut.stagedFiles('events')).to.deep.equal([]);
      const copy = sut.queryLog.find((q) => q.sql.startsWith('COPY'))!;
      const put = sut.queryLog.find((q) => q.sql.startsWith('PUT'))!;
      expect(put.at).to.be.at.least(since);
      expect(copy.at, 'arrival times, in order').to.be.at.least(put.at);
    } finally {
      await destroy(conn);
      await sut.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Snowflake test bed: DML, transactions and SQL errors', () => {
  const T = '"db"."schema"."events"';
  const row = (uuid: string, team: number, at: string, v = 1) => `('${uuid}', ${team}, '${at}', NULL, ${v})`;
  let sut: SnowflakeServer;
  let conn: Conn;
  const uuids = () =>
    sut
      .rows('events')
      .map((r) => r.uuid)
      .sort();

  before(async () => {
    sut = await startSnowflakeServer();
    conn = await connect(sut, { database: '"db"', schema: '"schema"' });
  });
  after(async () => {
    await destroy(conn);
    await sut.close();
  });
  beforeEach(async () => {
    await exec(conn, `DROP TABLE IF EXISTS ${T}`);
    await exec(
      conn,
      `CREATE TABLE IF NOT EXISTS ${T} ("uuid" STRING, "team_id" INTEGER, "inserted_at" TIMESTAMP, "properties" VARIANT, "v" INTEGER)`,
    );
    const values = [
      row('a', 1, '2024-01-01 10:00:00'),
      row('b', 1, '2024-01-02 10:00:00'),
      row('c', 2, '2024-01-01 10:00:00'),
      row('d', 1, '2024-01-03 10:00:00'),
    ];
    await exec(
      conn,
      `INSERT INTO ${T} ("uuid", "team_id", "inserted_at", "properties", "v") VALUES ${values.join(', ')}`,
    );
  });

  it('DELETE with AND-ed comparisons, and binds', async () => {
    const res = await exec(
      conn,
      `DELETE FROM "events" WHERE "team_id" = 1 AND "inserted_at" >= '2024-01-01 00:00:00' AND "inserted_at" < '2024-01-03'`,
    );
    expect(res).to.deep.equal([{ 'number of rows deleted': 2 }]);
    expect(uuids()).to.deep.equal(['c', 'd']);
    await exec(conn, 'DELETE FROM "events" WHERE "team_id" = ? AND "uuid" <> ?', [2, 'zzz']);
    expect(uuids()).to.deep.equal(['d']);
  });

  it('UPDATE with IN, PARSE_JSON, casts and :n binds', async () => {
    const res = await exec(
      conn,
      `UPDATE "events" SET "properties" = PARSE_JSON('{"k": [1, 2]}'), "inserted_at" = :1::TIMESTAMP WHERE "uuid" IN ('a', 'c')`,
      ['2025-05-05T05:05:05.5+02:00'],
    );
    expect(res).to.deep.equal([{ 'number of rows updated': 2, 'number of multi-joined rows updated': 0 }]);
    const a = sut.rows('events').find((r) => r.uuid === 'a')!;
    expect(a.properties).to.deep.equal({ k: [1, 2] });
    expect(a.inserted_at).to.equal('2025-05-05T05:05:05.5Z'); // NTZ drops the offset
    const rows = await exec(conn, 'SELECT "uuid" FROM "events" WHERE "properties" IS NOT NULL ORDER BY 1 DESC LIMIT 1');
    expect(rows).to.deep.equal([{ uuid: 'c' }]);
  });

  it('MERGE updates matches and inserts the rest', async () => {
    await exec(conn, 'CREATE TEMPORARY TABLE "stage_table" LIKE "events"');
    await exec(
      conn,
      `INSERT INTO "stage_table" VALUES ${row('a', 1, '2024-02-01 00:00:00', 2)}, ${row('e', 3, '2024-02-01 00:00:00', 1)}`,
    );
    const res = await exec(
      conn,
      `MERGE INTO "events" AS t USING "stage_table" AS s ON t."uuid" = s."uuid"
       WHEN MATCHED AND (s."v" > t."v" OR t."v" IS NULL) THEN UPDATE SET t."team_id" = s."team_id", t."inserted_at" = s."inserted_at", t."v" = s."v"
       WHEN NOT MATCHED THEN INSERT ("uuid", "team_id", "inserted_at", "properties", "v") VALUES (s."uuid", s."team_id", s."inserted_at", s."properties", s."v")`,
    );
    expect(res).to.deep.equal([{ 'number of rows inserted': 1, 'number of rows updated': 1 }]);
    const a = sut.rows('events').find((r) => r.uuid === 'a')!;
    expect([a.v, a.inserted_at]).to.deep.equal([2, '2024-02-01T00:00:00Z']);
    expect(uuids()).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    // A target row matching two source rows is an error (ERROR_ON_NONDETERMINISTIC_MERGE).
    await exec(
      conn,
      `INSERT INTO "stage_table" VALUES ${row('b', 1, '2024-02-01', 5)}, ${row('b', 1, '2024-02-01', 6)}`,
    );
    const err = await rejection(
      exec(
        conn,
        `MERGE INTO "events" t USING "stage_table" s ON t."uuid" = s."uuid" WHEN MATCHED THEN UPDATE SET t."v" = s."v"`,
      ),
    );
    expect(err.code).to.equal('100090');
    expect(sut.rows('events').find((r) => r.uuid === 'b')!.v, 'statement is atomic').to.equal(1);
  });

  it('INSERT INTO t SELECT * FROM s', async () => {
    await exec(conn, 'CREATE TRANSIENT TABLE "copy_of" LIKE "events"');
    expect(await exec(conn, 'INSERT INTO "copy_of" SELECT * FROM "events"')).to.deep.equal([
      { 'number of rows inserted': 4 },
    ]);
    expect(sut.rows('copy_of')).to.deep.equal(sut.rows('events'));
    await exec(conn, 'DROP TABLE "copy_of"');
  });

  it('ROLLBACK restores, COMMIT keeps, closing the session rolls back', async () => {
    await exec(conn, 'BEGIN');
    await exec(conn, 'DELETE FROM "events" WHERE "team_id" = 1');
    await exec(conn, `INSERT INTO "events" ("uuid") VALUES ('x')`);
    expect(uuids()).to.deep.equal(['c', 'x']);
    await exec(conn, 'ROLLBACK');
    expect(uuids()).to.deep.equal(['a', 'b', 'c', 'd']);

    await exec(conn, 'BEGIN TRANSACTION');
    await exec(conn, `DELETE FROM "events" WHERE "uuid" = 'a'`);
    await exec(conn, 'COMMIT');
    expect(uuids()).to.deep.equal(['b', 'c', 'd']);

    const other = await connect(sut, { database: '"db"', schema: '"schema"' });
    await exec(other, 'BEGIN');
    await exec(other, 'DELETE FROM "events"');
    expect(uuids(), 'no isolation: uncommitted changes are visible (see NOTES)').to.deep.equal([]);
    expect(sut.sessions().filter((s) => s.inTransaction)).to.have.length(1);
    await destroy(other); // session ends without COMMIT
    expect(uuids()).to.deep.equal(['b', 'c', 'd']);
  });

  it('DDL commits an open transaction implicitly', async () => {
    await exec(conn, 'BEGIN');
    await exec(conn, `DELETE FROM "events" WHERE "uuid" = 'a'`);
    await exec(conn, 'CREATE TABLE IF NOT EXISTS "other" ("x" STRING)');
    await exec(conn, 'ROLLBACK'); // nothing left to roll back
    expect(uuids()).to.deep.equal(['b', 'c', 'd']);
  });

  it('SELECT shapes: COUNT(*), *, projection, ORDER BY, identifier case rules', async () => {
    expect(await exec(conn, `SELECT COUNT(*) FROM ${T} WHERE "team_id" = 1`)).to.deep.equal([{ 'COUNT(*)': 3 }]);
    const rows = await exec(conn, 'SELECT "uuid", "v" AS val FROM "events" ORDER BY "inserted_at" DESC, "uuid"');
    expect(rows.map((r) => [r.uuid, r.VAL])).to.deep.equal([
      ['d', 1],
      ['b', 1],
      ['a', 1],
      ['c', 1],
    ]);
    // Unquoted identifiers fold to upper case, so they do not find lower-case quoted columns.
    expect((await rejection(exec(conn, 'SELECT uuid FROM "events"'))).code).to.equal('000904');
    expect(await rejection(exec(conn, 'SELECT * FROM events'))).to.include({ code: '002003', sqlState: '42S02' });
  });

  it('fails loudly on SQL it does not model, and on several statements in one request', async () => {
    for (const sql of ['SELEC 1', 'SELECT "uuid" FROM "events" GROUP BY "uuid"', 'CREATE STAGE s', 'SHOW TABLES']) {
      const err = await rejection(exec(conn, sql));
      expect(err, sql).to.include({ code: '001003', sqlState: '42000' });
      expect(err.message).to.match(/^SQL compilation error:\nsyntax error line 1 at position \d+ unexpected/);
    }
    expect((await rejection(exec(conn, 'SELECT 1; SELECT 2'))).code).to.equal('000008');
    expect((await rejection(exec(conn, `CREATE TABLE ${T} ("x" STRING)`))).code).to.equal('002002');
  });

  it('CREATE TABLE ... COMMENT and ALTER TABLE ADD COLUMN (schema evolution)', async () => {
    await exec(conn, `CREATE TABLE IF NOT EXISTS "c" ("x" STRING) COMMENT = 'PostHog generated table'`);
    await exec(conn, `INSERT INTO "c" VALUES ('1')`);
    await exec(conn, 'ALTER TABLE "c" ADD COLUMN IF NOT EXISTS "x" STRING, "y" VARIANT');
    expect(sut.columns('c')).to.deep.equal([
      { name: 'x', type: 'TEXT' },
      { name: 'y', type: 'VARIANT' },
    ]);
    expect(sut.rows('c')).to.deep.equal([{ x: '1', y: null }]);
    expect((await rejection(exec(conn, 'ALTER TABLE "c" ADD COLUMN "y" STRING'))).code).to.equal('001430');
  });

  it('with a fixed catalog, unknown databases and schemas do not exist', async () => {
    const strict = await startSnowflakeServer({ databases: { db: ['schema'] } });
    const c = await connect(strict, { database: '"nope"' }); // login still succeeds
    expect(await exec(c, 'SELECT CURRENT_DATABASE() AS d')).to.deep.equal([{ D: null }]);
    expect((await rejection(exec(c, 'USE DATABASE "nope"'))).code).to.equal('002043');
    await exec(c, 'USE SCHEMA "db"."schema"');
    expect((await rejection(exec(c, 'CREATE TABLE "db"."other"."t" ("x" STRING)'))).code).to.equal('002043');
    await destroy(c);
    await strict.close();
  });
});

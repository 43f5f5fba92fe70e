import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyJwt } from '../snowflake-server/lib/auth';
import { fingerprint } from '../snowflake-server/snowflake-server';
import {
  EVENTS_DDL,
  connect,
  destroy,
  event,
  exec,
  rejection,
  rsaKeyPair,
  startSnowflakeServer,
  tmpDir,
  writeJsonlGz,
  type SnowflakeServer,
} from '../helpers/snowflake';

// The test bed itself (test/snowflake-server, see its NOTES.md), driven by the
// real snowflake-sdk: what the Snowflake destination's tests rely on.

describe('Snowflake test bed: authentication', () => {
  const plain = rsaKeyPair();
  const encrypted = rsaKeyPair('s3cret');
  const stranger = rsaKeyPair();
  let sut: SnowflakeServer;

  before(async () => {
    sut = await startSnowflakeServer({
      account: 'testacct',
      users: { test: 'test', loader: 'pw' },
      // Two keys for one user, like Snowflake's RSA_PUBLIC_KEY / RSA_PUBLIC_KEY_2 rotation.
      publicKeys: { keyuser: [plain.publicKey, encrypted.publicKey] },
    });
  });
  after(() => sut.close());

  it('connects with a password, runs queries and records the login body', async () => {
    const conn = await connect(sut, {
      username: 'loader',
      password: 'pw',
      warehouse: 'w',
      database: '"db"',
      schema: '"schema"',
      role: 'r',
    });
    expect(await exec(conn, 'SELECT 1')).to.deep.equal([{ 1: 1 }]);
    expect(await exec(conn, 'SELECT CURRENT_WAREHOUSE(), CURRENT_DATABASE(), CURRENT_SCHEMA()')).to.deep.equal([
      { 'CURRENT_WAREHOUSE()': 'W', 'CURRENT_DATABASE()': 'db', 'CURRENT_SCHEMA()': 'schema' },
    ]);
    await exec(conn, 'USE WAREHOUSE "other_wh"');
    await exec(conn, 'USE SCHEMA "db2"."s2"');
    expect(
      await exec(conn, 'SELECT CURRENT_WAREHOUSE() AS w, CURRENT_DATABASE() AS d, CURRENT_SCHEMA() AS s'),
    ).to.deep.equal([{ W: 'other_wh', D: 'db2', S: 's2' }]);
    await destroy(conn);
    const body = sut.logins.at(-1) as { data: Record<string, unknown> };
    expect(body.data).to.deep.include({
      LOGIN_NAME: 'loader',
      PASSWORD: 'pw',
      ACCOUNT_NAME: 'testacct',
      CLIENT_APP_ID: 'JavaScript',
    });
    expect(sut.queries).to.include('SELECT 1');
    expect(sut.sessions(), 'destroy() deletes the session').to.have.length(0);
  });

  it('surfaces a wrong password as 390100', async () => {
    const err = await rejection(connect(sut, { username: 'loader', password: 'nope' }));
    expect(err).to.include({
      code: '390100',
      message: 'Incorrect username or password was specified.',
      name: 'OperationFailedError',
    });
  });

  it('can force a login failure even with good credentials', async () => {
    sut.faults.failLogins(1);
    expect((await rejection(connect(sut))).code).to.equal('390100');
    await destroy(await connect(sut)); // only one failure was requested
  });

  it('accepts key-pair auth (unencrypted PKCS#8)', async () => {
    const conn = await connect(sut, {
      username: 'keyuser',
      password: undefined,
      authenticator: 'SNOWFLAKE_JWT',
      privateKey: plain.privateKey,
    });
    expect(await exec(conn, 'SELECT CURRENT_USER()')).to.deep.equal([{ 'CURRENT_USER()': 'KEYUSER' }]);
    await destroy(conn);
    const data = (sut.logins.at(-1) as { data: Record<string, string> }).data;
    expect(data.AUTHENTICATOR).to.equal('SNOWFLAKE_JWT');
    const claims = JSON.parse(Buffer.from(data.TOKEN!.split('.')[1]!, 'base64url').toString());
    expect(claims.sub).to.equal('TESTACCT.KEYUSER');
    expect(claims.iss).to.match(/^TESTACCT\.KEYUSER\.SHA256:[A-Za-z0-9+/]+=*$/);
    // snowflake-sdk 3.3.0 puts milliseconds (Date.now()) in iat/exp, lifetime 120 s.
    expect(claims.exp - claims.iat).to.equal(120_000);
  });

  it('accepts an encrypted key via privateKeyPass, or decrypted by the caller', async () => {
    const jwt = { username: 'keyuser', authenticator: 'SNOWFLAKE_JWT' };
    await destroy(await connect(sut, { ...jwt, privateKey: encrypted.privateKey, privateKeyPass: 's3cret' }));
    const decrypted = crypto
      .createPrivateKey({ key: encrypted.privateKey, format: 'pem', passphrase: 's3cret' })
      .export({ type: 'pkcs8', format: 'pem' })
      .toString();
    await destroy(await connect(sut, { ...jwt, privateKey: decrypted }));
  });

  it('rejects a key that is not registered, and a key registered for someone else', async () => {
    const err = await rejection(
      connect(sut, { username: 'keyuser', authenticator: 'SNOWFLAKE_JWT', privateKey: stranger.privateKey }),
    );
    expect(err.code).to.equal('390144');
    expect(err.message).to.match(/^JWT token is invalid\./);
    const other = await rejection(
      connect(sut, { username: 'loader', authenticator: 'SNOWFLAKE_JWT', privateKey: plain.privateKey }),
    );
    expect(other.code).to.equal('390144');
  });

  it('rejects a JWT issued for another account', async () => {
    // Right key, but the SDK builds sub/iss from the account option, which is not the server's.
    const err = await rejection(
      connect(sut, {
        account: 'otheracct',
        username: 'keyuser',
        authenticator: 'SNOWFLAKE_JWT',
        privateKey: plain.privateKey,
      }),
    );
    expect(err.code).to.equal('390144');
  });

  it('verifies the RS256 signature itself (tampered payload or signature)', () => {
    const sub = 'TESTACCT.KEYUSER';
    const claims = { iss: `${sub}.${fingerprint(plain.publicKey)}`, sub, iat: Date.now(), exp: Date.now() + 60_000 };
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}`;
    const sig = crypto.sign('sha256', Buffer.from(input), plain.privateKey).toString('base64url');
    const keys = [plain.publicKey];
    expect(verifyJwt(`${input}.${sig}`, 'testacct', 'keyuser', keys)).to.equal(undefined);
    const forged = `${input.split('.')[0]}.${b64({ ...claims, exp: claims.exp + 1 })}.${sig}`;
    expect(verifyJwt(forged, 'testacct', 'keyuser', keys)).to.equal('bad signature');
    const flipped = sig.startsWith('A') ? 'B' + sig.slice(1) : 'A' + sig.slice(1);
    expect(verifyJwt(`${input}.${flipped}`, 'testacct', 'keyuser', keys)).to.equal('bad signature');
    const expired = `${input.split('.')[0]}.${b64({ ...claims, exp: 1 })}.${sig}`;
    expect(verifyJwt(expired, 'testacct', 'keyuser', keys)).to.equal('token expired');
  });
});

describe('Snowflake test bed: fault injection and SDK behaviour', () => {
  const COPY = `COPY INTO "events" FROM '@%"events"/p/' FILE_FORMAT = (TYPE = 'JSON' COMPRESSION = 'GZIP') MATCH_BY_COLUMN_NAME = CASE_SENSITIVE PURGE = TRUE`;
  let sut: SnowflakeServer;
  let conn: Awaited<ReturnType<typeof connect>>;
  const dir = tmpDir();
  const log = (sql: string) => sut.queryLog.filter((q) => q.sql === sql).map((q) => [q.retryCount, q.outcome]);

  before(async () => {
    sut = await startSnowflakeServer();
    // `timeout` (ms, default 90000) is the SDK's per-HTTP-request timeout.
    conn = await connect(sut, { database: '"db"', schema: '"schema"', timeout: 1000 });
    await exec(conn, EVENTS_DDL);
  });
  afterEach(() => sut.faults.clear());
  after(async () => {
    await destroy(conn);
    await sut.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('injects a query error for matching SQL: PUT succeeds, COPY fails, a re-run loads', async () => {
    sut.faults.queryError({
      sql: /^COPY INTO/,
      code: '002003',
      message: 'SQL compilation error:\nObject \'"events"\' does not exist or not authorized.',
    });
    const file = writeJsonlGz(dir, 'f.jsonl.gz', [event(1), event(2)]);
    await exec(conn, `PUT 'file://${file}' @%"events"/p/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE`);
    const err = await rejection(exec(conn, COPY));
    expect(err).to.include({ name: 'OperationFailedError', code: '002003', sqlState: '42S02' });
    expect(err.message).to.match(/does not exist or not authorized/);
    expect(sut.stagedFiles('events')).to.deep.equal(['p/f.jsonl.gz']);
    expect((await exec(conn, COPY))[0].status).to.equal('LOADED');
    expect(sut.stagedFiles('events')).to.deep.equal([]);
  });

  it('a 503 is retried by the SDK itself (same requestId, retryCount=1)', async () => {
    sut.faults.httpError({ status: 503, path: /query-request/, nth: 2 });
    await exec(conn, 'SELECT 1');
    const started = Date.now();
    expect(await exec(conn, 'SELECT 2')).to.deep.equal([{ 2: 2 }]);
    expect(Date.now() - started, 'retry sleeps >= ~1 s (sfRetryStartingSleepTime)').to.be.at.least(900);
    expect(log('SELECT 2')).to.deep.equal([
      [0, 'http-error'],
      [1, 'ok'],
    ]);
    const ids = sut.queryLog.filter((q) => q.sql === 'SELECT 2').map((q) => q.requestId);
    expect(ids[0]).to.equal(ids[1]);
  });

  it('a non-retryable status (400) is re-sent once by the statement, then surfaces as 401002', async () => {
    sut.faults.httpError({ status: 400, path: /query-request/, times: 1 });
    expect(await exec(conn, 'SELECT 3')).to.deep.equal([{ 3: 3 }]);
    expect(log('SELECT 3')).to.deep.equal([
      [0, 'http-error'],
      [0, 'ok'],
    ]);
    sut.faults.httpError({ status: 400, path: /query-request/, times: Infinity });
    const err = await rejection(exec(conn, 'SELECT 4'));
    expect(err).to.include({ name: 'RequestFailedError', code: 401002 });
    expect(err.response.statusCode).to.equal(400);
    expect(log('SELECT 4')).to.deep.equal([
      [0, 'http-error'],
      [0, 'http-error'],
    ]);
  });

  it('503 on login is retried by the login loop; sfRetryMaxLoginRetries bounds it', async () => {
    sut.faults.httpError({ path: /login-request/, times: 2 });
    await destroy(await connect(sut));
    sut.faults.httpError({ path: /login-request/, times: Infinity });
    const err = await rejection(connect(sut, { sfRetryMaxLoginRetries: 1 }));
    expect(err).to.include({ code: 401002, message: 'Request to Snowflake failed.' });
  });

  it('a stalled response trips the SDK timeout; the SDK retries and the retry succeeds', async () => {
    sut.faults.stall({ sql: /SELECT 5/ }); // held until released
    const started = Date.now();
    expect(await exec(conn, 'SELECT 5')).to.deep.equal([{ 5: 5 }]);
    expect(Date.now() - started).to.be.at.least(1000);
    // The first attempt was abandoned by the client and therefore never executed: it ended when
    // the client went away, so releasing it now changes nothing.
    expect(log('SELECT 5')).to.deep.equal([
      [0, 'abandoned'],
      [1, 'ok'],
    ]);
    sut.faults.releaseStalled();
    await sleep(50);
    expect(log('SELECT 5')).to.have.length(2);
    sut.faults.stall({ sql: /SELECT 6/, ms: 300 }); // shorter than the timeout: just slow
    expect(await exec(conn, 'SELECT 6')).to.deep.equal([{ 6: 6 }]);
    expect(log('SELECT 6')).to.deep.equal([[0, 'ok']]);
  });

  it('crashAfter(error): COPY applies, client sees an error, re-run finds nothing to load', async () => {
    const file = writeJsonlGz(dir, 'g.jsonl.gz', [event(3)]);
    await exec(conn, `PUT 'file://${file}' @%"events"/p/ AUTO_COMPRESS=FALSE`);
    sut.faults.crashAfter({ sql: /^COPY INTO/, mode: 'error' });
    const before = sut.rows('events').length;
    const err = await rejection(exec(conn, COPY.replace('PURGE = TRUE', '')));
    expect(err.code).to.equal('000603');
    expect(sut.rows('events').length, 'rows were loaded anyway').to.equal(before + 1);
    expect(await exec(conn, COPY)).to.deep.equal([{ status: 'Copy executed with 0 files processed.' }]);
    expect(sut.stagedFiles('events'), 'skipped files are not purged').to.deep.equal(['p/g.jsonl.gz']);
  });

  it('crashAfter(drop): connection lost after commit; the SDK retry is de-duplicated', async () => {
    await exec(conn, 'CREATE TABLE "t" ("x" INTEGER)');
    sut.faults.crashAfter({ sql: /^INSERT/, mode: 'drop' });
    expect(await exec(conn, 'INSERT INTO "t" VALUES (1)')).to.deep.equal([{ 'number of rows inserted': 1 }]);
    expect(log('INSERT INTO "t" VALUES (1)')).to.deep.equal([
      [0, 'dropped'],
      [1, 'deduplicated'],
    ]);
    expect(sut.rows('t')).to.have.length(1);
  });

  it('without request de-duplication the same retry inserts twice', async () => {
    const plain = await startSnowflakeServer({ dedupeRequestIds: false });
    const c = await connect(plain, { database: 'D', schema: 'S' });
    await exec(c, 'CREATE TABLE t (x INTEGER)');
    plain.faults.crashAfter({ sql: /^INSERT/, mode: 'drop' });
    await exec(c, 'INSERT INTO t VALUES (1)');
    expect(plain.rows('D.S.T')).to.deep.equal([{ X: 1 }, { X: 1 }]);
    await destroy(c);
    await plain.close();
  });
});

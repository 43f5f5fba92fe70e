import { expect } from 'chai';
import { PermanentError, type BatchExportError, type EventRow } from '@bx/core';
import { type SnowflakeConfig } from '@bx/destination-snowflake';
import { SnowflakeDestination } from '@bx/destination-snowflake';
import { chTime, makeEvent, rowBatches } from '../helpers/events';
import { runContext } from '../helpers/run-context';
import {
  connect,
  destroy,
  exec,
  rsaKeyPair,
  snowflakeConfig,
  startSnowflakeServer,
  type SnowflakeServer,
} from '../helpers/snowflake';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const TABLE = 'ANALYTICS.PUBLIC.events';
const rows: EventRow[] = Array.from({ length: 20 }, () => ({
  ...makeEvent({ inserted_at: chTime('2024-01-01T10:20:00Z') }),
  team_id: '1',
}));

const batches = () => rowBatches(rows, rows.length);

async function failure(p: Promise<unknown>): Promise<BatchExportError> {
  try {
    await p;
  } catch (err) {
    return err as BatchExportError;
  }
  throw new Error('expected a failure');
}

describe('Snowflake destination: authentication, errors and the destination test', function () {
  this.timeout(30_000);
  const key = rsaKeyPair();
  const encryptedKey = rsaKeyPair('key-passphrase');
  let server: SnowflakeServer;

  const config = (overrides: Partial<SnowflakeConfig> = {}) => snowflakeConfig(server, overrides);
  const write = (c: SnowflakeConfig) => new SnowflakeDestination(c).write(batches(), runContext(span));

  beforeEach(async () => {
    server = await startSnowflakeServer({
      account: 'testacct',
      users: { loader: 'loader-password' },
      publicKeys: { keyloader: [key.publicKey, encryptedKey.publicKey] },
      // Only these exist: USE of anything else fails as in Snowflake.
      databases: { ANALYTICS: ['PUBLIC'] },
    });
  });
  afterEach(() => server.close());

  it('key-pair authentication: the server verifies the JWT signed with the PKCS#8 key, encrypted or not', async () => {
    await write(config({ user: 'keyloader', password: null, private_key: key.privateKey }));
    await write(
      config({
        user: 'keyloader',
        password: null,
        private_key: encryptedKey.privateKey,
        private_key_passphrase: 'key-passphrase',
      }),
    );
    expect(server.rows(TABLE)).to.have.length(20);
    const logins = server.logins.map((l) => (l as { data: Record<string, string> }).data);
    expect(logins.map((d) => d.AUTHENTICATOR)).to.deep.equal(['SNOWFLAKE_JWT', 'SNOWFLAKE_JWT']);
    expect(logins.every((d) => d.TOKEN && !d.PASSWORD)).to.equal(true);
  });

  it('a wrong password fails permanently with Snowflake message, after one login', async () => {
    const err = await failure(write(config({ password: 'wrong' })));
    expect(err).to.be.instanceOf(PermanentError);
    expect(err.code).to.equal('AuthenticationFailed');
    expect(err.message).to.equal('Snowflake login failed: 390100: "Incorrect username or password was specified."');
    expect(server.logins).to.have.length(1);
    expect(err.message).to.not.contain('wrong');
  });

  it('a key Snowflake does not know fails permanently (390144); an unreadable key before any request', async () => {
    const stranger = rsaKeyPair();
    const err = await failure(write(config({ user: 'keyloader', password: null, private_key: stranger.privateKey })));
    expect(err).to.include({ retryable: false, code: 'AuthenticationFailed' });
    expect(err.message).to.contain('390144: "JWT token is invalid.');
    const unreadable = await failure(
      write(config({ user: 'keyloader', private_key: encryptedKey.privateKey, private_key_passphrase: 'nope' })),
    );
    expect(unreadable).to.include({ retryable: false, code: 'InvalidPrivateKey' });
    expect(unreadable.message).to.match(/^private_key cannot be read with private_key_passphrase: /);
    expect(server.logins).to.have.length(1);
  });

  it('a missing database or schema fails permanently with Snowflake message', async () => {
    const db = await failure(write(config({ database: 'nope' })));
    expect(db).to.include({ retryable: false, code: 'ObjectNotFound' });
    expect(db.message).to.equal(
      // Snowflake's words, quoted: its newline written as an escape.
      'Snowflake USE DATABASE failed: 002043: "SQL compilation error:\\nDatabase \'nope\' does not exist or not authorized."',
    );
    const schema = await failure(write(config({ schema: 'elsewhere' })));
    expect(schema).to.include({ retryable: false, code: 'ObjectNotFound' });
    expect(schema.message).to.contain("Schema 'elsewhere' does not exist or not authorized.");
    expect(server.queries.filter((q) => q.startsWith('PUT'))).to.deep.equal([]);
  });

  it('a missing warehouse or insufficient privileges fail permanently', async () => {
    server.faults.queryError({
      sql: /^USE WAREHOUSE/,
      code: '002043',
      sqlState: '02000',
      message: 'SQL compilation error:\nObject does not exist, or operation cannot be performed.',
    });
    expect(await failure(write(config()))).to.include({ retryable: false, code: 'ObjectNotFound' });
    server.faults.queryError({
      sql: /^CREATE TABLE/,
      code: '003001',
      sqlState: '42501',
      message: "SQL access control error:\nInsufficient privileges to operate on schema 'PUBLIC'",
    });
    const err = await failure(write(config()));
    expect(err).to.include({ retryable: false, code: 'InsufficientPrivileges' });
    expect(err.message).to.contain("Insufficient privileges to operate on schema 'PUBLIC'");
  });

  it('an existing table with incompatible columns fails permanently before anything is staged', async () => {
    const conn = await connect(server, { username: 'loader', password: 'loader-password', database: 'ANALYTICS' });
    await exec(
      conn,
      'CREATE TABLE "events" (UUID STRING, "event" STRING, "properties" VARIANT, "distinct_id" STRING, "team_id" BOOLEAN, "timestamp" TIMESTAMP, "created_at" TIMESTAMP, "inserted_at" STRING, "elements_chain" STRING, "person_id" STRING, "person_properties" VARIANT)',
    );
    await destroy(conn);
    const err = await failure(write(config()));
    expect(err).to.include({ retryable: false, code: 'IncompatibleTable' });
    expect(err.message).to.equal(
      'Snowflake table "events" cannot hold the events: column "uuid" is missing (names are matched case-sensitively); ' +
        'column "team_id" is BOOLEAN, which cannot hold it (expected INTEGER); ' +
        'column "inserted_at" is TEXT, which cannot hold it (expected TIMESTAMP_NTZ)',
    );
    expect(server.queries.filter((q) => q.startsWith('PUT'))).to.deep.equal([]);
    expect(await failure(new SnowflakeDestination(config()).check())).to.include({ code: 'IncompatibleTable' });
  });

  it('the destination test passes with good settings, without creating anything', async () => {
    await new SnowflakeDestination(config()).check();
    expect(server.tables()).to.deep.equal([]);
    expect(server.queries).to.include.members([
      'USE WAREHOUSE loading_wh',
      'USE DATABASE analytics',
      'USE SCHEMA public',
    ]);
    expect(server.sessions()).to.deep.equal([]);
  });

  it('the destination test reports a refused login, a missing schema and a warehouse it cannot use', async () => {
    const login = await failure(new SnowflakeDestination(config({ password: 'wrong' })).check());
    expect(login).to.include({ retryable: false, code: 'AuthenticationFailed' });
    const schema = await failure(new SnowflakeDestination(config({ schema: 'elsewhere' })).check());
    expect(schema.message).to.contain("Schema 'elsewhere' does not exist or not authorized.");
    // A warehouse the role may not use leaves none current, as in Snowflake.
    server.faults.queryError({ sql: /^USE WAREHOUSE/, code: '002043', sqlState: '02000', message: 'x' });
    expect(await failure(new SnowflakeDestination(config()).check())).to.include({ code: 'ObjectNotFound' });
  });
});

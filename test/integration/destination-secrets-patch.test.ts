import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiHarness } from '../helpers/api-harness';
import { CaptureServer } from '../helpers/capture-server';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { TestPostgres } from '../helpers/postgres';
import { snowflakeConfig, startSnowflakeServer, type SnowflakeServer } from '../helpers/snowflake';

const S3_SECRET = 'stored-s3-secret-do-not-leak-0123';
const SF_PASSWORD = 'stored-snowflake-password-0123';

describe('PATCH that moves a destination must carry its secrets again (secrets_required)', function () {
  this.timeout(60_000);
  let sut: ApiHarness;
  let listener: CaptureServer;
  let sf: SnowflakeServer;

  before(async () => {
    sut = await new ApiHarness().start();
    sf = await startSnowflakeServer({ users: { loader: SF_PASSWORD }, databases: { ANALYTICS: ['PUBLIC'] } });
  });
  after(async () => {
    await sut.close();
    await sf.close();
  });
  beforeEach(async () => {
    listener = await new CaptureServer().start();
  });
  afterEach(() => listener.stop());

  const create = async (type: 'S3' | 'Snowflake' | 'Postgres', config: Record<string, unknown>) => {
    const res = await sut.call('POST', '/api/exports', {
      body: { name: 'victim', team_id: 1, interval: 'hour', paused: true, destination: { type, config } },
    });
    expect(res.status, res.text).to.equal(201);
    return res.json.id as string;
  };
  const patch = (id: string, config: Record<string, unknown>) =>
    sut.call('PATCH', `/api/exports/${id}`, { body: { destination: { config } } });
  const s3Config = () => ({
    bucket_name: 'bx-victim-bucket',
    endpoint_url: testEnv.S3_ENDPOINT_URL,
    aws_access_key_id: S3_CREDENTIALS.aws_access_key_id,
    aws_secret_access_key: S3_SECRET,
  });

  it('S3: endpoint_url, bucket_name or region without aws_secret_access_key is 400, and /test sends nothing away', async () => {
    const id = await create('S3', s3Config());
    for (const moved of [{ endpoint_url: listener.url }, { bucket_name: 'attacker-bucket' }, { region: 'eu-west-3' }]) {
      const res = await patch(id, moved);
      expect(res.status, JSON.stringify(moved)).to.equal(400);
      expect(res.json.error.code).to.equal('secrets_required');
      expect(res.json.error.details).to.deep.equal([
        { field: 'destination.config.aws_secret_access_key', message: res.json.error.details[0].message },
      ]);
      expect(res.json.error.message).to.contain(Object.keys(moved)[0]);
    }
    // The old attack: point the export at a listener, then press "test".
    await sut.call('POST', `/api/exports/${id}/test`);
    expect(listener.requests, 'no request reached the listener').to.deep.equal([]);
    const stored = await sut.call('GET', `/api/exports/${id}`);
    expect(stored.json.destination.config.endpoint_url).to.equal(testEnv.S3_ENDPOINT_URL);
  });

  it('S3: with the secret given again the move is accepted; fields that do not move need no secret', async () => {
    const id = await create('S3', s3Config());
    const same = await patch(id, { endpoint_url: testEnv.S3_ENDPOINT_URL, region: 'us-east-1', prefix: 'x/{year}' });
    expect(same.status, same.text).to.equal(200);
    const renamed = await sut.call('PATCH', `/api/exports/${id}`, { body: { name: 'renamed' } });
    expect(renamed.status).to.equal(200);
    const moved = await patch(id, { endpoint_url: listener.url, aws_secret_access_key: 'the-new-secret-456' });
    expect(moved.status, moved.text).to.equal(200);
    await sut.call('POST', `/api/exports/${id}/test`);
    expect(listener.requests.length).to.be.greaterThan(0);
    expect(listener.seen).to.not.contain(S3_SECRET);
  });

  it('Snowflake: access_url, account or user without the password is 400, and /test sends nothing away', async () => {
    const id = await create('Snowflake', { ...snowflakeConfig(sf), password: SF_PASSWORD });
    expect((await sut.call('POST', `/api/exports/${id}/test`)).json.status).to.equal('ok');
    for (const moved of [{ access_url: listener.url }, { account: 'attacker' }, { user: 'someone-else' }]) {
      const res = await patch(id, moved);
      expect(res.status, JSON.stringify(moved)).to.equal(400);
      expect(res.json.error.code).to.equal('secrets_required');
      expect(res.json.error.details.map((d: { field: string }) => d.field)).to.deep.equal([
        'destination.config.password',
      ]);
    }
    await sut.call('POST', `/api/exports/${id}/test`);
    expect(listener.requests).to.deep.equal([]);
    // Switching to key-pair authentication while moving: the stored password must be dropped explicitly.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const keyOnly = await patch(id, { access_url: listener.url, private_key: pem });
    expect(keyOnly.json.error.code).to.equal('secrets_required');
    const switched = await patch(id, { access_url: listener.url, private_key: pem, password: null });
    expect(switched.status, switched.text).to.equal(200);
    await sut.call('POST', `/api/exports/${id}/test`);
    expect(listener.seen).to.not.contain(SF_PASSWORD);
  });

  it('Postgres: host, port, database or user without the password is 400, and /test sends nothing away', async () => {
    const pg = await new TestPostgres().setup();
    try {
      const { user, password } = await pg.role((u) => [`GRANT USAGE, CREATE ON SCHEMA "${pg.schema}" TO "${u}"`]);
      const id = await create('Postgres', { ...pg.config({ user, password }) });
      expect((await sut.call('POST', `/api/exports/${id}/test`)).json.status).to.equal('ok');
      const moves = [{ host: 'localhost' }, { port: listener.port }, { database: 'postgres' }, { user: 'bx' }];
      for (const moved of moves) {
        const res = await patch(id, moved);
        expect(res.status, JSON.stringify(moved)).to.equal(400);
        expect(res.json.error.code).to.equal('secrets_required');
        expect(res.json.error.details.map((d: { field: string }) => d.field)).to.deep.equal([
          'destination.config.password',
        ]);
        expect(res.json.error.message).to.contain(Object.keys(moved)[0]);
      }
      await sut.call('POST', `/api/exports/${id}/test`);
      expect(listener.connections, 'nothing connected to the listener').to.equal(0);
      // Fields that do not say where or as whom need no password; with it, the move is accepted.
      expect((await patch(id, { table_name: 'events_2', schema: pg.schema })).status).to.equal(200);
      const moved = await patch(id, { port: listener.port, password: 'a-new-password' });
      expect(moved.status, moved.text).to.equal(200);
      await sut.call('POST', `/api/exports/${id}/test`);
      expect(listener.connections).to.be.greaterThan(0);
      expect(listener.seen).to.not.contain(password);
    } finally {
      await pg.drop();
    }
  });

  it('Postgres: weakening TLS (sslmode, ca_cert) without the password is 400', async () => {
    // It was accepted: an export that checked the server's certificate could be switched to
    // sslmode disable, or to trust a CA of one's own, and keep sending the stored password
    // to whoever answers for the host (a server may ask for it in clear).
    const ca = readFileSync(join(__dirname, '../fixtures/tls/cert.pem'), 'utf8');
    const id = await create('Postgres', {
      host: 'db.example.com',
      database: 'analytics',
      user: 'loader',
      password: 'stored-postgres-password-0123',
      table_name: 'events',
    });
    for (const moved of [{ sslmode: 'disable' }, { sslmode: 'require' }, { ca_cert: ca }]) {
      const res = await patch(id, moved);
      expect(res.status, JSON.stringify(moved)).to.equal(400);
      expect(res.json.error.code).to.equal('secrets_required');
      expect(res.json.error.details.map((d: { field: string }) => d.field)).to.deep.equal([
        'destination.config.password',
      ]);
    }
    const again = await patch(id, { sslmode: 'require', ca_cert: ca, password: 'the-password-again' });
    expect(again.status, again.text).to.equal(200);
  });

  it('Snowflake key-pair: moving without private_key is 400 (the SDK would sign a JWT for the listener)', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const id = await create('Snowflake', { ...snowflakeConfig(sf), password: null, private_key: pem });
    const res = await patch(id, { access_url: listener.url });
    expect(res.status).to.equal(400);
    expect(res.json.error.details.map((d: { field: string }) => d.field)).to.deep.equal([
      'destination.config.private_key',
    ]);
    await sut.call('POST', `/api/exports/${id}/test`);
    expect(listener.requests).to.deep.equal([]);
  });
});

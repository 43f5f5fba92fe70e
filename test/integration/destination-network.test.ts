import { expect } from 'chai';
import { DESTINATION_NOT_ALLOWED, NetworkPolicy } from '@bx/core';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkS3, s3ConfigSchema } from '@bx/destination-s3';
import { SnowflakeDestination } from '@bx/destination-snowflake';
import { ApiHarness } from '../helpers/api-harness';
import { CaptureServer } from '../helpers/capture-server';
import { S3_CREDENTIALS } from '../helpers/env';
import { snowflakeConfig, startSnowflakeServer } from '../helpers/snowflake';

const strict = () => NetworkPolicy.parse('');

describe('destinations may not reach private addresses unless ALLOWED_PRIVATE_DESTINATIONS lists them', function () {
  this.timeout(60_000);
  let listener: CaptureServer;
  beforeEach(async () => {
    listener = await new CaptureServer().start();
  });
  afterEach(() => listener.stop());

  const s3 = (endpoint: string) => ({
    bucket_name: 'bx-ssrf-bucket',
    endpoint_url: endpoint,
    aws_access_key_id: S3_CREDENTIALS.aws_access_key_id,
    aws_secret_access_key: 'ssrf-secret-0123456789',
  });
  const postgres = (host: string, port: number) => ({
    host,
    port,
    database: 'bx',
    user: 'bx',
    password: 'ssrf-password-0123456789',
    table_name: 'events',
    sslmode: 'disable',
  });
  const body = (destination: { type: string; config: Record<string, unknown> }) => ({
    body: { name: 'ssrf', team_id: 1, interval: 'hour', paused: true, destination },
  });

  describe('at create and update', () => {
    let sut: ApiHarness;
    before(async () => {
      sut = await new ApiHarness({ network: strict() }).start();
    });
    after(() => sut.close());

    it('refuses loopback, private and link-local endpoints, also behind a name, with 400 destination_not_allowed', async () => {
      const port = listener.port;
      const refused: Array<[string, string]> = [
        [`http://127.0.0.1:${port}`, 'loopback'],
        [`http://localhost:${port}`, 'loopback'],
        [`http://[::1]:${port}`, 'loopback'],
        [`http://[::ffff:127.0.0.1]:${port}`, 'loopback'],
        [`http://0.0.0.0:${port}`, 'unspecified'],
        ['http://169.254.169.254/latest/meta-data/', 'link-local'],
        ['http://10.1.2.3:9000', 'private'],
        ['http://192.168.0.10', 'private'],
        ['http://[fd00::1]:9000', 'private'],
      ];
      for (const [endpoint, kind] of refused) {
        const res = await sut.call('POST', '/api/exports', body({ type: 'S3', config: s3(endpoint) }));
        expect(res.status, endpoint).to.equal(400);
        expect(res.json.error.code).to.equal('destination_not_allowed');
        expect(res.json.error.details[0].field).to.equal('destination.config.endpoint_url');
        expect(res.json.error.message).to.contain(kind).and.to.contain('ALLOWED_PRIVATE_DESTINATIONS');
      }
      const snowflake = await sut.call(
        'POST',
        '/api/exports',
        body({ type: 'Snowflake', config: { ...snowflakeConfig({ url: `http://localhost:${port}` } as never) } }),
      );
      expect(snowflake.json.error.code).to.equal('destination_not_allowed');
      expect(snowflake.json.error.details[0].field).to.equal('destination.config.access_url');
      for (const host of ['localhost', '127.0.0.1', '10.0.0.5']) {
        const config = { ...postgres(host, port) };
        const res = await sut.call('POST', '/api/exports', body({ type: 'Postgres', config }));
        expect(res.status, host).to.equal(400);
        expect(res.json.error.code).to.equal('destination_not_allowed');
        expect(res.json.error.details[0].field).to.equal('destination.config.host');
      }
      expect(listener.connections, 'nothing was contacted').to.equal(0);
    });

    it('refuses moving an export there, and accepts public endpoints', async () => {
      const created = await sut.call(
        'POST',
        '/api/exports',
        body({ type: 'S3', config: s3('https://s3.example.com') }),
      );
      expect(created.status, created.text).to.equal(201);
      const moved = await sut.call('PATCH', `/api/exports/${created.json.id}`, {
        body: { destination: { config: { endpoint_url: listener.url, aws_secret_access_key: 'x' } } },
      });
      expect(moved.status).to.equal(400);
      expect(moved.json.error.code).to.equal('destination_not_allowed');
      expect(listener.connections).to.equal(0);
    });
  });

  it('lets through what is listed, by host name, address or CIDR', async () => {
    const byName = await new ApiHarness({ network: NetworkPolicy.parse('localhost') }).start();
    const byCidr = await new ApiHarness({ network: NetworkPolicy.parse('127.0.0.0/8') }).start();
    try {
      const create = (h: ApiHarness, endpoint: string) =>
        h.call('POST', '/api/exports', body({ type: 'S3', config: s3(endpoint) }));
      expect((await create(byName, `http://localhost:${listener.port}`)).status).to.equal(201);
      expect((await create(byName, listener.url)).status, '127.0.0.1 is not the name localhost').to.equal(400);
      expect((await create(byCidr, listener.url)).status).to.equal(201);
      expect((await create(byCidr, 'http://10.0.0.1')).status).to.equal(400);
    } finally {
      await byName.close();
      await byCidr.close();
    }
  });

  it('lets host:port entries through on that port only, at create and when connecting', async () => {
    const port = listener.port;
    const sut = await new ApiHarness({ network: NetworkPolicy.parse(`localhost:${port},127.0.0.1:${port}`) }).start();
    try {
      const create = (endpoint: string) => sut.call('POST', '/api/exports', body({ type: 'S3', config: s3(endpoint) }));
      expect((await create(`http://localhost:${port}`)).status).to.equal(201);
      expect((await create(listener.url)).status).to.equal(201);
      const other = await create(`http://127.0.0.1:${port + 1}`);
      expect(other.status).to.equal(400);
      expect(other.json.error.code).to.equal('destination_not_allowed');
      const pg = await sut.call(
        'POST',
        '/api/exports',
        body({ type: 'Postgres', config: postgres('localhost', port + 1) }),
      );
      expect(pg.json.error.code).to.equal('destination_not_allowed');
      expect(listener.connections).to.equal(0);
    } finally {
      await sut.close();
    }
    // When connecting, through a name: the socket's lookup knows the port.
    const at = (entry: string) =>
      checkS3(s3ConfigSchema.parse(s3(`http://localhost:${port}`)), { network: NetworkPolicy.parse(entry) }).catch(
        (e: unknown) => e,
      );
    expect(await at(`localhost:${port + 1}`)).to.have.property('code', DESTINATION_NOT_ALLOWED);
    expect(listener.connections).to.equal(0);
    expect(await at(`localhost:${port}`)).to.have.property('code', 'AccessDenied');
    expect(listener.connections).to.be.greaterThan(0);
  });

  it('POST /test of an export stored before the rule does not connect, and says why without the remote words', async () => {
    const sut = await new ApiHarness({ network: strict() }).start();
    try {
      const created = await sut.call(
        'POST',
        '/api/exports',
        body({ type: 'S3', config: s3('https://s3.example.com') }),
      );
      const stored = (await sut.store.exports.get(created.json.id))!;
      stored.destination.config.endpoint_url = `http://localhost:${listener.port}`;
      await sut.store.exports.modify(stored.id, () => stored);
      const res = await sut.call('POST', `/api/exports/${created.json.id}/test`);
      expect(res.json).to.include({ status: 'error', code: DESTINATION_NOT_ALLOWED, retryable: false });
      expect(res.json.message).to.contain('loopback').and.to.not.contain('hello');
      // Postgres: the host is resolved and checked before the driver connects.
      const pg = await sut.call(
        'POST',
        '/api/exports',
        body({ type: 'Postgres', config: postgres('db.example.com', 5432) }),
      );
      expect(pg.status, pg.text).to.equal(201);
      const pgStored = (await sut.store.exports.get(pg.json.id))!;
      Object.assign(pgStored.destination.config, { host: 'localhost', port: listener.port });
      await sut.store.exports.modify(pgStored.id, () => pgStored);
      const pgTest = await sut.call('POST', `/api/exports/${pg.json.id}/test`);
      expect(pgTest.json).to.include({ status: 'error', code: DESTINATION_NOT_ALLOWED, retryable: false });
      expect(listener.connections).to.equal(0);
    } finally {
      await sut.close();
    }
  });

  describe('when connecting (a name that resolves there only later, a redirect)', () => {
    it('S3: the client refuses the address itself, whatever was checked before', async () => {
      for (const endpoint of [`http://localhost:${listener.port}`, listener.url]) {
        const err = await checkS3(s3ConfigSchema.parse(s3(endpoint)), { network: strict() }).catch((e: unknown) => e);
        expect(err, endpoint).to.have.property('code', DESTINATION_NOT_ALLOWED);
      }
      expect(listener.connections).to.equal(0);
      // The same client, allowed: it does reach the listener (and reports its answer).
      const allowed = await checkS3(s3ConfigSchema.parse(s3(listener.url)), {
        network: NetworkPolicy.parse('127.0.0.1'),
      }).catch((e: unknown) => e);
      expect(allowed).to.have.property('code', 'AccessDenied');
      expect(listener.connections).to.be.greaterThan(0);
    });

    it('Snowflake: the SDK session refuses the address itself', async () => {
      const sf = await startSnowflakeServer({ users: { loader: 'pw-0123456789' } });
      try {
        const port = Number(new URL(sf.url).port);
        for (const host of ['localhost', '127.0.0.1']) {
          const config = snowflakeConfig(sf, { access_url: `http://${host}:${port}`, password: 'pw-0123456789' });
          const err = await new SnowflakeDestination(config).check({ network: strict() }).catch((e: unknown) => e);
          expect(err, host).to.have.property('code', DESTINATION_NOT_ALLOWED);
          expect((err as Error).message).to.contain('loopback');
        }
        expect(sf.requests, 'the Snowflake server saw no login').to.have.length(0);
        const allowed = snowflakeConfig(sf, { password: 'pw-0123456789' });
        await new SnowflakeDestination(allowed).check({ network: NetworkPolicy.parse('127.0.0.0/8') });
      } finally {
        await sf.close();
      }
    });

    it('Snowflake: a redirect to the other protocol meets the policy too', async () => {
      // The SDK gave axios only the agent of the access URL's protocol; a 307 from
      // http to https went out through Node's global agent and reached loopback.
      const sink = await new CaptureServer().start();
      const redirector = createServer((req, res) => {
        req.resume();
        res.writeHead(307, { location: `https://127.0.0.1:${sink.port}${req.url}` }).end();
      });
      await new Promise<void>((resolve) => redirector.listen(0, 'localhost', resolve));
      try {
        const port = (redirector.address() as AddressInfo).port;
        const config = snowflakeConfig({ url: `http://localhost:${port}` } as never, { password: 'pw-0123456789' });
        const err = await new SnowflakeDestination(config)
          .check({ network: NetworkPolicy.parse('localhost') })
          .catch((e: unknown) => e);
        expect(err).to.have.property('code', DESTINATION_NOT_ALLOWED);
        expect((err as Error).message).to.match(/destination address 127\.0\.0\.1( port \d+)? is a loopback address/);
        expect(sink.connections, 'nothing reached the redirect target').to.equal(0);
      } finally {
        await new Promise((resolve) => redirector.close(resolve));
        await sink.stop();
      }
    });
  });
});

import { expect } from 'chai';
import type { LookupAddress } from 'node:dns';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { NetworkPolicy, PermanentError, RetryableError, parseInput } from '@bx/core';
import { PostgresConnection, postgresConfigSchema } from '@bx/destination-postgres';
import { adminConfig, destinationConfig } from '../helpers/postgres';

const HOST = 'db.several.test';
/** The test server's certificate: for localhost and 127.0.0.1. */
const CA = readFileSync(join(__dirname, '..', 'fixtures', 'tls', 'cert.pem'), 'utf8');

/** A host that accepts connections on the server's port and never says a word (a hung machine); it counts them. */
class SilentHost {
  readonly sockets: Socket[] = [];
  private server!: Server;
  address = '';

  async start(): Promise<this> {
    for (;;) {
      this.address = `127.77.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
      this.server = createServer((socket) => this.sockets.push(socket));
      const listening = await new Promise<boolean>((resolve) => {
        this.server.once('error', () => resolve(false));
        this.server.listen(adminConfig().port, this.address, () => resolve(true));
      });
      if (listening) return this;
    }
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/**
 * PostgresConnection.open against the real server (127.0.0.1:5432) when the
 * host name resolves to several addresses: the test's resolver answers the
 * addresses (127.0.0.2 refuses connections: the server listens on 127.0.0.1 only).
 */
describe('PostgresConnection.open: a host of several addresses, each tried in turn', function () {
  this.timeout(30_000);
  const hosts: SilentHost[] = [];
  let asked: string[];
  const silent = async () => {
    const host = await new SilentHost().start();
    hosts.push(host);
    return host;
  };
  /** A policy that allows HOST by name and resolves it to `addresses`, in that order. */
  const policy = (addresses: string[], allowed = [HOST]) =>
    new NetworkPolicy(allowed, async (name) => {
      asked.push(name);
      return addresses.map((address): LookupAddress => ({ address, family: 4 }));
    });
  const config = (overrides: Record<string, unknown> = {}) =>
    parseInput(postgresConfigSchema, { ...destinationConfig('public', 'events'), host: HOST, ...overrides });
  const open = (network: NetworkPolicy, connectMs = 10_000, overrides = {}, signal?: AbortSignal) =>
    PostgresConnection.open(
      config(overrides),
      { connectMs, lockMs: 1000, statementMs: 0, applicationName: 'bx addresses test', network },
      signal,
    );
  const serverAddress = async (conn: PostgresConnection) =>
    (await conn.query<{ addr: string }>('SELECT host(inet_server_addr()) AS addr', 'SELECT')).rows[0]!.addr;

  beforeEach(() => {
    asked = [];
  });
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop()));
  });

  it('connects to the second address when the first refuses the connection', async () => {
    const sut = await open(policy(['127.0.0.2', '127.0.0.1']));
    try {
      expect(await serverAddress(sut)).to.equal('127.0.0.1');
      expect(asked).to.deep.equal([HOST]);
    } finally {
      await sut.close();
    }
  });

  it('a silent first address gives way after its share of POSTGRES_CONNECT_TIMEOUT_MS, not all of it', async () => {
    const hung = await silent();
    const sut = await open(policy([hung.address, '127.0.0.1']), 4000);
    try {
      expect(await serverAddress(sut)).to.equal('127.0.0.1');
      expect(hung.sockets).to.have.length(1);
    } finally {
      await sut.close();
    }
  });

  it('TLS checks the certificate against the host name on whichever address answers', async () => {
    const tls = { sslmode: 'verify-full', ca_cert: CA };
    const sut = await open(policy(['127.0.0.2', '127.0.0.1'], ['localhost']), 10_000, { ...tls, host: 'localhost' });
    try {
      expect(await serverAddress(sut)).to.equal('127.0.0.1');
      expect(
        (await sut.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', 'SELECT'))
          .rows[0]!.ssl,
      ).to.equal(true);
    } finally {
      await sut.close();
    }
    // 127.0.0.1 is in the certificate, db.several.test is not: the name is what counts.
    const refused = await open(policy(['127.0.0.2', '127.0.0.1']), 10_000, tls).catch((e: unknown) => e);
    expect(refused).to.be.instanceOf(PermanentError).with.property('code', 'CertificateRejected');
  });

  it('every address failing: one retryable error that names each', async () => {
    const hung = await silent();
    const sut = await open(policy(['127.0.0.2', hung.address]), 1000).catch((e: unknown) => e);
    expect(sut).to.be.instanceOf(RetryableError);
    expect((sut as Error).message)
      .to.contain('127.0.0.2')
      .and.contain(hung.address)
      .and.match(/^PostgreSQL login failed/);
    expect(hung.sockets, 'the last address had what the first left').to.have.length(1);
  });

  it('a server that answers ends the attempts: a refused login is not tried on the next address', async () => {
    const next = await silent();
    const sut = await open(policy(['127.0.0.1', next.address]), 10_000, { password: 'not-the-password' }).catch(
      (e: unknown) => e,
    );
    expect(sut).to.be.instanceOf(PermanentError).with.property('code', 'AuthenticationFailed');
    expect(next.sockets).to.have.length(0);
  });

  it('checks every address before connecting to any: one refused by the policy refuses the host', async () => {
    const first = await silent();
    // The name is not listed, only 127.0.0.1: the first address is a loopback one the policy refuses.
    const sut = await open(policy([first.address, '127.0.0.1'], ['127.0.0.1'])).catch((e: unknown) => e);
    expect(sut).to.have.property('code', 'DestinationNotAllowed');
    expect((sut as Error).message).to.contain(first.address);
    expect(first.sockets).to.have.length(0);
  });

  it("the run's abort signal ends the attempts: the next address is not tried", async () => {
    const [first, second] = [await silent(), await silent()];
    const controller = new AbortController();
    const opening = open(policy([first.address, second.address]), 60_000, {}, controller.signal).catch(
      (e: unknown) => e,
    );
    await new Promise<void>((resolve) => {
      const poll = () => (first.sockets.length > 0 ? resolve() : setTimeout(poll, 10));
      poll();
    });
    controller.abort(new RetryableError('run aborted', { code: 'Aborted' }));
    expect(await opening).to.be.instanceOf(RetryableError);
    expect(second.sockets).to.have.length(0);
  });
});

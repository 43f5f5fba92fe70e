import { expect } from 'chai';
import { DESTINATION_NOT_ALLOWED, NetworkPolicy, PermanentError, unmapped } from '@bx/core';
import type { LookupAddress } from 'node:dns';

const refused = [
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['0.0.0.0', 'unspecified'],
  ['10.1.2.3', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.1.1', 'private'],
  ['100.100.100.200', 'private'],
  ['169.254.169.254', 'link-local'],
  ['::1', 'loopback'],
  ['::', 'unspecified'],
  ['fd00::1', 'private'],
  ['fc00::1', 'private'],
  ['fe80::1', 'link-local'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['[::ffff:a9fe:a9fe]', 'link-local'],
  ['0:0:0:0:0:ffff:10.0.0.1', 'private'],
] as const;
const allowed = ['8.8.8.8', '172.32.0.1', '172.15.255.255', '192.169.0.1', '2606:4700::1111', '::ffff:8.8.8.8'];

describe('network policy (ALLOWED_PRIVATE_DESTINATIONS)', () => {
  const sut = NetworkPolicy.parse('');

  for (const [address, kind] of refused) {
    it(`refuses ${address} as ${kind} by default`, () => {
      expect(sut.refusal(address, address))
        .to.contain(`a ${kind} address`)
        .and.to.contain('ALLOWED_PRIVATE_DESTINATIONS');
      expect(() => sut.checkAddress('example.com', address))
        .to.throw(PermanentError)
        .with.property('code', DESTINATION_NOT_ALLOWED);
    });
  }

  it('allows public addresses', () => {
    for (const address of allowed) expect(sut.refusal(address, address), address).to.equal(null);
  });

  it('allows listed host names, addresses and CIDRs, and nothing more', () => {
    const policy = NetworkPolicy.parse('minio, 127.0.0.1 ,10.0.0.0/8, fd00::/8, LocalHost');
    expect(policy.refusal('minio', '172.18.0.5')).to.equal(null);
    expect(policy.refusal('MINIO', '172.18.0.5')).to.equal(null);
    expect(policy.refusal('localhost', '::1')).to.equal(null);
    expect(policy.refusal('127.0.0.1', '127.0.0.1')).to.equal(null);
    expect(policy.refusal('x', '::ffff:127.0.0.1')).to.equal(null);
    expect(policy.refusal('x', '10.9.8.7')).to.equal(null);
    expect(policy.refusal('x', 'fd12::1')).to.equal(null);
    expect(policy.refusal('x', '127.0.0.2')).to.contain('loopback');
    expect(policy.refusal('other', '172.18.0.5')).to.contain('private');
    expect(policy.refusal('x', '169.254.169.254')).to.contain('link-local');
  });

  it('allows host:port, address:port, [v6]:port and CIDR:port entries on that port only', () => {
    const policy = NetworkPolicy.parse('minio:9000, 10.0.0.5:5432, [::1]:8123, [fd00::7], 192.168.0.0/16:6543, ::1');
    const ok = (host: string, address: string, port?: number) =>
      expect(policy.refusal(host, address, port), `${host} ${address} ${port}`).to.equal(null);
    const no = (host: string, address: string, port?: number) =>
      expect(policy.refusal(host, address, port), `${host} ${address} ${port}`).to.contain('ALLOWED_PRIVATE');
    ok('minio', '172.18.0.5', 9000);
    ok('MINIO', '172.18.0.5', 9000);
    no('minio', '172.18.0.5', 9001);
    no('minio', '172.18.0.5'); // the port unknown: only entries without one allow
    ok('x', '10.0.0.5', 5432);
    no('x', '10.0.0.5', 5433);
    no('x', '10.0.0.6', 5432);
    ok('x', '192.168.4.4', 6543);
    no('x', '192.168.4.4', 6544);
    ok('x', 'fd00::7', 1); // [fd00::7] without a port: any port
    ok('x', '::1', 1); // ::1 is an address, not the port 1 of ':'
    expect(policy.refusal('minio', '172.18.0.5', 9001)).to.contain('port 9001');
    const v6 = NetworkPolicy.parse('[::1]:8123');
    expect(v6.refusal('x', '::1', 8123)).to.equal(null);
    expect(v6.refusal('x', '::1', 8124)).to.contain('loopback');
  });

  it('checks the port on every path: checkHost, resolveChecked and a socket lookup for that port', async () => {
    const policy = NetworkPolicy.parse('localhost:5432');
    await policy.checkHost('localhost', 5432);
    expect(await policy.checkHost('localhost', 5433).catch((e: unknown) => e)).to.have.property(
      'code',
      DESTINATION_NOT_ALLOWED,
    );
    expect(await policy.resolveChecked('localhost', 5432)).to.have.length.greaterThan(0);
    expect(await policy.resolveChecked('localhost', 5433).catch((e: unknown) => e)).to.have.property(
      'code',
      DESTINATION_NOT_ALLOWED,
    );
    const lookup = (port: number) =>
      new Promise<NodeJS.ErrnoException | null>((resolve) =>
        policy.lookupAt(port)('localhost', {} as never, ((err: NodeJS.ErrnoException | null) => resolve(err)) as never),
      );
    expect(await lookup(5432)).to.equal(null);
    expect(await lookup(5433)).to.be.instanceOf(PermanentError);
  });

  it('rejects entries that are neither names, addresses nor CIDRs', () => {
    for (const bad of [
      '10.0.0.0/33',
      'http://x',
      'a b',
      '::1/129',
      '1.2.3.4/8/1',
      'minio:0',
      'minio:65536',
      'a:b:c',
      '[minio]:80',
      'minio:',
    ]) {
      expect(() => NetworkPolicy.parse(bad), bad).to.throw(/neither a host name/);
    }
  });

  it('checks what a name resolves to: localhost is loopback', async () => {
    const err = await sut.checkHost('localhost').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message)
      .to.contain('loopback')
      .and.to.contain('(localhost)');
    await NetworkPolicy.parse('localhost').checkHost('localhost');
    await sut.checkHost('no-such-host.invalid');
  });

  it('gives sockets a lookup that refuses what the policy refuses', async () => {
    const lookup = (policy: NetworkPolicy, all: boolean) =>
      new Promise<{ err: NodeJS.ErrnoException | null; result: string | LookupAddress[] }>((resolve) =>
        policy.lookup(
          'localhost',
          { all } as never,
          ((err: NodeJS.ErrnoException | null, result: never) => resolve({ err, result })) as never,
        ),
      );
    for (const all of [false, true]) {
      const denied = await lookup(sut, all);
      expect(denied.err).to.be.instanceOf(PermanentError);
      const ok = await lookup(NetworkPolicy.parse('localhost'), all);
      expect(ok.err).to.equal(null);
      if (all) expect((ok.result as LookupAddress[]).length).to.be.greaterThan(0);
      else expect(ok.result).to.be.oneOf(['127.0.0.1', '::1']);
    }
  });

  it('resolves a host to its checked addresses for drivers without a lookup (pg)', async () => {
    const [local] = await NetworkPolicy.parse('localhost').resolveChecked('localhost');
    expect(local).to.be.oneOf(['127.0.0.1', '::1']);
    expect(await NetworkPolicy.parse('127.0.0.1').resolveChecked('127.0.0.1')).to.deep.equal(['127.0.0.1']);
    for (const host of ['localhost', '127.0.0.1', '[::1]']) {
      const err = await sut.resolveChecked(host).catch((e: unknown) => e);
      expect(err, host).to.have.property('code', DESTINATION_NOT_ALLOWED);
    }
  });

  it('resolves through the resolver it is given: every address in order, one refused refusing the name', async () => {
    const asked: string[] = [];
    const resolver = async (host: string) => {
      asked.push(host);
      return [
        { address: '203.0.113.7', family: 4 },
        { address: host === 'mixed.test' ? '127.0.0.1' : '198.51.100.9', family: 4 },
      ];
    };
    const policy = new NetworkPolicy([], resolver);
    expect(await policy.resolveChecked('public.test')).to.deep.equal(['203.0.113.7', '198.51.100.9']);
    const err = await policy.resolveChecked('mixed.test').catch((e: unknown) => e);
    expect(err).to.have.property('code', DESTINATION_NOT_ALLOWED);
    expect(await policy.checkHost('mixed.test').catch((e: unknown) => e)).to.have.property(
      'code',
      DESTINATION_NOT_ALLOWED,
    );
    expect(asked).to.deep.equal(['public.test', 'mixed.test', 'mixed.test']);
    const none = new NetworkPolicy([], async () => []);
    expect(await none.resolveChecked('gone.test').catch((e: unknown) => e)).to.have.property('code', 'ENOTFOUND');
  });

  it('reads IPv4-mapped IPv6 addresses as the IPv4 address', () => {
    expect(unmapped('::ffff:7f00:1')).to.equal('127.0.0.1');
    expect(unmapped('::ffff:1.2.3.4')).to.equal('1.2.3.4');
    expect(unmapped('2001:db8::1')).to.equal('2001:db8::1');
  });
});

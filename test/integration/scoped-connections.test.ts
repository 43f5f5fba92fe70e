import { expect } from 'chai';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { DESTINATION_NOT_ALLOWED, NetworkPolicy } from '@bx/core';
import { withinPolicy } from '@bx/destination-snowflake';

/** How one connection attempt ended: `connected`, or the error's code. */
function outcome(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

// The storage SDKs of a Snowflake PUT connect however they like: every way must meet the policy.
describe('withinPolicy: every TCP connection made in the scope meets the network policy', () => {
  let sut: Server;
  let port: number;
  let accepted = 0;
  let local: Server;
  const pipe = join(tmpdir(), `bx-scoped-${process.pid}.sock`);

  before(async () => {
    sut = createServer((c) => {
      accepted++;
      c.destroy();
    });
    await new Promise<void>((resolve) => sut.listen(0, '127.0.0.1', resolve));
    port = (sut.address() as AddressInfo).port;
    local = createServer((c) => {
      accepted++;
      c.destroy();
    });
    await new Promise<void>((resolve) => local.listen(pipe, resolve));
  });
  after(async () => {
    await new Promise((resolve) => local.close(resolve));
    await new Promise((resolve) => sut.close(resolve));
  });

  it('refuses loopback however the connection is asked for, and lets the rest of the process be', async () => {
    const { Socket: NetSocket, connect } = await import('node:net');
    const seen: string[] = [];
    const err = await withinPolicy(new NetworkPolicy([]), async () => {
      seen.push(await outcome(new NetSocket().connect(port, '127.0.0.1')));
      seen.push(await outcome(new NetSocket().connect(port)));
      seen.push(await outcome(new NetSocket().connect({ port, host: 'localhost' })));
      seen.push(await outcome(connect(port, '::ffff:127.0.0.1')));
      seen.push(await outcome(tlsConnect({ port, host: '127.0.0.1' })));
      seen.push(await outcome(connect(pipe)));
      seen.push(await outcome(new NetSocket().connect({ path: pipe })));
    }).catch((e: unknown) => e);
    expect(seen).to.deep.equal(Array(7).fill(DESTINATION_NOT_ALLOWED));
    expect(err, 'the scope fails with the refusal').to.have.property('code', DESTINATION_NOT_ALLOWED);
    expect(accepted, 'nothing reached the listener').to.equal(0);
    expect(await outcome(new NetSocket().connect(port, '127.0.0.1')), 'outside the scope').to.equal('connected');
  });

  it("leaves a caller's options object as it was: the same options connect outside the scope", async () => {
    const { connect } = await import('node:net');
    const options = { port, host: 'localhost' };
    const inside = await withinPolicy(new NetworkPolicy([]), () => outcome(connect(options))).catch((e: unknown) => e);
    expect(inside).to.have.property('code', DESTINATION_NOT_ALLOWED);
    expect(options, 'no lookup left on them').to.deep.equal({ port, host: 'localhost' });
    expect(await outcome(connect(options)), 'outside the scope').to.equal('connected');
  });

  it('lets through what the policy lists', async () => {
    const { Socket: NetSocket } = await import('node:net');
    const seen = await withinPolicy(new NetworkPolicy([`127.0.0.1:${port}`]), () =>
      outcome(new NetSocket().connect(port, '127.0.0.1')),
    );
    expect(seen).to.equal('connected');
  });
});

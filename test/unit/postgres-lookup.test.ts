import { expect } from 'chai';
import { NetworkPolicy, RetryableError, parseInput } from '@bx/core';
import { PostgresConnection, lookupWithin, postgresConfigSchema } from '@bx/destination-postgres';

/** A policy whose resolver never answers, as a DNS server that drops the query: Node's lookup would wait forever. */
class SilentResolver extends NetworkPolicy {
  asked: string[] = [];
  override resolveChecked(host: string): Promise<string[]> {
    this.asked.push(host);
    return new Promise<string[]>(() => undefined);
  }
}

const config = parseInput(postgresConfigSchema, {
  host: 'db.example',
  database: 'analytics',
  user: 'exporter',
  password: 'secret',
  table_name: 'events',
});
const settings = (connectMs: number, network: NetworkPolicy) => ({
  connectMs,
  lockMs: 1000,
  statementMs: 0,
  applicationName: 'bx lookup test',
  network,
});

describe('PostgresConnection.open: the host lookup is bounded', function () {
  // Without the bound these never settle: a short limit makes that a failure, not a minute's wait.
  this.timeout(5000);

  it('gives up after the connect timeout, retryable, naming the host and POSTGRES_CONNECT_TIMEOUT_MS', async () => {
    const network = new SilentResolver();
    const sut = await PostgresConnection.open(config, settings(200, network)).catch((e: unknown) => e);
    expect(network.asked).to.deep.equal(['db.example']);
    expect(sut).to.be.instanceOf(RetryableError).with.property('code', 'Timeout');
    expect((sut as Error).message)
      .to.contain('db.example')
      .and.contain('POSTGRES_CONNECT_TIMEOUT_MS');
  });

  it("stops on the run's abort signal, with its reason, long before the connect timeout", async () => {
    const network = new SilentResolver();
    const controller = new AbortController();
    const reason = new RetryableError('run aborted', { code: 'Aborted' });
    const opening = PostgresConnection.open(config, settings(600_000, network), controller.signal).catch(
      (e: unknown) => e,
    );
    setImmediate(() => controller.abort(reason));
    const sut = await opening;
    expect(network.asked).to.deep.equal(['db.example']);
    expect(sut).to.equal(reason);
  });

  it('an already aborted signal does not look the host up', async () => {
    const network = new SilentResolver();
    const controller = new AbortController();
    controller.abort(new RetryableError('run aborted', { code: 'Aborted' }));
    const sut = await PostgresConnection.open(config, settings(600_000, network), controller.signal).catch(
      (e: unknown) => e,
    );
    expect(sut).to.have.property('code', 'Aborted');
    expect(network.asked).to.deep.equal([]);
  });

  it('lookupWithin gives the address a resolver answers in time', async () => {
    const sut = await lookupWithin('db.example', async (host) => (host === 'db.example' ? ['203.0.113.7'] : []), 1000);
    expect(sut).to.deep.equal(['203.0.113.7']);
  });
});

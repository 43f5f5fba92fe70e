import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DESTINATION_NOT_ALLOWED, NetworkPolicy } from '@bx/core';
import { PostgresDestination, checkPostgres, tlsOptions } from '@bx/destination-postgres';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { runContext } from '../helpers/run-context';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const CA = readFileSync(join(__dirname, '..', 'fixtures', 'tls', 'cert.pem'), 'utf8');

describe('Postgres destination and ALLOWED_PRIVATE_DESTINATIONS, when connecting', function () {
  this.timeout(60_000);
  let pg: TestPostgres;
  const rows = asRows([makeEvent({ inserted_at: chTime('2024-01-01T10:30:00Z') })]);
  before(async () => {
    pg = await new TestPostgres().setup();
  });
  after(async () => pg.drop());

  it('refuses a loopback host, by address or by a name that resolves there, before any login', async () => {
    const strict = NetworkPolicy.parse('');
    for (const host of ['127.0.0.1', 'localhost']) {
      const config = pg.config({ host });
      const run = await new PostgresDestination(config, { network: strict })
        .write(rowBatches(rows, 1), runContext(span))
        .catch((e: unknown) => e);
      expect(run, host).to.have.property('code', DESTINATION_NOT_ALLOWED);
      expect((run as Error).message)
        .to.contain('loopback')
        .and.contain('ALLOWED_PRIVATE_DESTINATIONS');
      const check = await checkPostgres(config, { network: strict }).catch((e: unknown) => e);
      expect(check, host).to.have.property('code', DESTINATION_NOT_ALLOWED);
    }
    const { rows: table } = await pg.admin.query('SELECT to_regclass($1) AS t', [`"${pg.schema}"."events"`]);
    expect(table[0].t, 'nothing was created').to.equal(null);
  });

  it('connects where the policy allows, to the address it checked; TLS is still checked against the name', async () => {
    const byName = NetworkPolicy.parse('localhost');
    const config = pg.config({ host: 'localhost', sslmode: 'verify-full', ca_cert: CA });
    await checkPostgres(config, { network: byName });
    const result = await new PostgresDestination(config, { network: byName }).write(
      rowBatches(rows, 1),
      runContext(span),
    );
    expect(result.records).to.equal(1);
    const refused = await checkPostgres(pg.config(), { network: byName }).catch((e: unknown) => e);
    expect(refused, '127.0.0.1 is not the name localhost').to.have.property('code', DESTINATION_NOT_ALLOWED);
  });

  it('verify-full of a name checks the certificate against the name, not the address connected to', () => {
    const options = tlsOptions({ host: 'db.example.com', sslmode: 'verify-full', ca_cert: CA });
    expect(options).to.include({ servername: 'db.example.com' });
    const cert = { subject: { CN: 'localhost' }, subjectaltname: 'DNS:localhost, IP Address:127.0.0.1' };
    const check = (options as { checkServerIdentity: (host: string, cert: unknown) => Error | undefined })
      .checkServerIdentity;
    expect(check('127.0.0.1', cert), 'the fixture certificate is not db.example.com').to.be.instanceOf(Error);
    for (const host of ['127.0.0.1', '::1', '[::1]']) {
      expect(tlsOptions({ host, sslmode: 'verify-full', ca_cert: CA }), host).to.not.have.property('servername');
    }
  });
});

import { expect } from 'chai';
import { parseInput, PermanentError, ValidationError } from '@bx/core';
import { postgresConfigSchema, postgresOptionsFromEnv } from '@bx/destination-postgres';

describe('Postgres destination config', () => {
  const base = {
    host: 'db.example.com',
    database: 'analytics',
    user: 'loader',
    password: 'secret',
    table_name: 'events',
  };

  it('fills in port 5432, schema public and sslmode verify-full', () => {
    const sut = parseInput(postgresConfigSchema, base);
    expect(sut).to.deep.include({ port: 5432, schema: 'public', sslmode: 'verify-full' });
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['an unknown sslmode', { sslmode: 'prefer' }, 'sslmode'],
    ['a host with a scheme', { host: 'postgres://db' }, 'host'],
    ['a name over 63 bytes', { table_name: 'é'.repeat(32) }, 'table_name'],
    ['a control character in a name', { schema: 'a\nb' }, 'schema'],
    ['ca_cert that is not PEM', { ca_cert: 'hello' }, 'ca_cert'],
    ['ca_cert without TLS', { sslmode: 'disable', ca_cert: '-----BEGIN CERTIFICATE-----\n' }, 'ca_cert'],
    ['a port out of range', { port: 70000 }, 'port'],
    ['no password', { password: undefined }, 'password'],
    ['an unknown field', { sslrootcert: '/x' }, 'sslrootcert'],
  ];
  for (const [name, overrides, field] of bad) {
    it(`refuses ${name}, naming ${field}`, () => {
      const err = (() => {
        try {
          parseInput(postgresConfigSchema, { ...base, ...overrides });
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(err).to.be.instanceOf(ValidationError);
      expect((err as ValidationError).details.map((d) => d.field)).to.include(field);
    });
  }

  it("the worker's settings: from POSTGRES_LOCK_TIMEOUT_MS and POSTGRES_CONNECT_TIMEOUT_MS; a bad one names itself", () => {
    expect(postgresOptionsFromEnv({})).to.deep.equal({});
    expect(postgresOptionsFromEnv({ POSTGRES_LOCK_TIMEOUT_MS: '2000', POSTGRES_CONNECT_TIMEOUT_MS: '' })).to.deep.equal(
      {
        lockMs: 2000,
      },
    );
    expect(() => postgresOptionsFromEnv({ POSTGRES_LOCK_TIMEOUT_MS: 'soon' }))
      .to.throw(PermanentError)
      .with.property('message')
      .that.contains('POSTGRES_LOCK_TIMEOUT_MS');
  });
});

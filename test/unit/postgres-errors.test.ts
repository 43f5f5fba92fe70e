import { expect } from 'chai';
import { PermanentError, RetryableError } from '@bx/core';
import { classifyPostgresError } from '@bx/destination-postgres';

/** Errors as `pg` and Node raise them where no real server can produce them on demand (the rest: integration tests). */
const error = (message: string, fields: Record<string, unknown> = {}) => Object.assign(new Error(message), fields);

describe('PostgreSQL error classification (errors the integration tests cannot provoke)', () => {
  const cases: Array<[string, Error, boolean, string]> = [
    ['host not found', error('getaddrinfo ENOTFOUND db.example', { code: 'ENOTFOUND' }), false, 'HostNotFound'],
    ['DNS failing for now', error('getaddrinfo EAI_AGAIN db.example', { code: 'EAI_AGAIN' }), true, 'NetworkError'],
    ['reset', error('read ECONNRESET', { code: 'ECONNRESET' }), true, 'NetworkError'],
    // Five capitals like a SQLSTATE: a write to a session the server just ended (57P01 not read yet).
    ['a broken pipe', error('write EPIPE', { code: 'EPIPE' }), true, 'NetworkError'],
    [
      'a server without TLS under require',
      error('The server does not support SSL connections'),
      false,
      'TlsNotSupported',
    ],
    [
      'expired certificate',
      error('certificate has expired', { code: 'CERT_HAS_EXPIRED' }),
      false,
      'CertificateRejected',
    ],
    ['connection lost', error('Connection terminated unexpectedly'), true, 'ConnectionError'],
    ['connect timeout', error('timeout expired'), true, 'Timeout'],
    ['server starting up', error('the database system is starting up', { code: '57P03' }), true, 'CannotConnectNow'],
    ['disk full', error('could not extend file', { code: '53100' }), true, 'InsufficientResources'],
    ['crash of another backend', error('terminating connection', { code: '57P02' }), true, 'CrashShutdown'],
    [
      'a standby',
      error('cannot execute DELETE in a read-only transaction', { code: '25006' }),
      false,
      'ReadOnlyServer',
    ],
    ['a value the column refuses', error('value overflows numeric format', { code: '22003' }), false, 'InvalidData'],
    ['a NOT NULL of the user', error('null value in column', { code: '23502' }), false, 'ConstraintViolation'],
    [
      'a value past a server limit (it was retried 15 times)',
      error('stack depth limit exceeded', { code: '54001' }),
      false,
      'ProgramLimitExceeded',
    ],
    ['an unknown SQLSTATE', error('something', { code: 'P0001' }), true, 'ServerError'],
  ];
  for (const [name, err, retryable, code] of cases) {
    it(`${name}: ${retryable ? 'retryable' : 'permanent'} ${code}`, () => {
      const sut = classifyPostgresError(err, 'COPY');
      expect(sut).to.be.instanceOf(retryable ? RetryableError : PermanentError);
      expect(sut.code).to.equal(code);
      expect(sut.message).to.contain('PostgreSQL COPY failed').and.contain(err.message);
      expect(sut.cause).to.equal(err);
    });
  }

  it('names the COPY line and column of a refused value', () => {
    const err = error('invalid input syntax for type json', {
      code: '22P02',
      detail: 'Token "x" is invalid.',
      where: 'JSON data, line 1: x\nCOPY events, line 7, column properties',
    });
    expect(classifyPostgresError(err, 'COPY').message)
      .to.contain('22P02')
      .and.contain('COPY events, line 7, column properties');
  });

  it('says duplicate events are the cause of a unique violation only when the key is uuid', () => {
    const violation = (detail: string) =>
      classifyPostgresError(
        error('duplicate key value violates unique constraint "x"', { code: '23505', severity: 'ERROR', detail }),
        'COPY',
      );
    const onUuid = violation('Key (uuid)=(0190e5a4-0000-7000-8000-000000000001) already exists.');
    expect(onUuid).to.be.instanceOf(PermanentError).and.have.property('code', 'ConstraintViolation');
    expect(onUuid.message).to.contain('an event sent twice');
    const onOther = violation('Key (distinct_id)=(u1) already exists.');
    expect(onOther).to.have.property('code', 'ConstraintViolation');
    expect(onOther.message).not.to.contain('an event sent twice');
    expect(onOther.message).to.contain('a unique index or constraint of the table refuses a row the export writes');
  });
});

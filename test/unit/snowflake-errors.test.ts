import { expect } from 'chai';
import { PermanentError, RetryableError } from '@bx/core';
import { classifySnowflakeError } from '@bx/destination-snowflake';

/** An error shaped as snowflake-sdk 3.3.0 raises it. */
const sdkError = (fields: Record<string, unknown>) =>
  Object.assign(new Error(String(fields.message ?? 'boom')), { name: 'OperationFailedError', ...fields });

describe('Snowflake error classification', () => {
  const cases: Array<[string, Record<string, unknown>, 'login' | 'statement', boolean, string]> = [
    [
      'wrong password',
      { code: '390100', message: 'Incorrect username or password was specified.' },
      'login',
      false,
      'AuthenticationFailed',
    ],
    ['unknown key', { code: '390144', message: 'JWT token is invalid.' }, 'login', false, 'AuthenticationFailed'],
    [
      'expired session at login',
      { code: '390112', message: 'Your session has expired.' },
      'login',
      true,
      'SessionExpired',
    ],
    ['missing table', { code: '002003', sqlState: '42S02' }, 'statement', false, 'ObjectNotFound'],
    ['missing database/schema/warehouse', { code: '002043', sqlState: '02000' }, 'statement', false, 'ObjectNotFound'],
    ['no usable warehouse', { code: '000606', sqlState: '57P03' }, 'statement', false, 'NoActiveWarehouse'],
    ['privileges', { code: '003001', sqlState: '42501' }, 'statement', false, 'InsufficientPrivileges'],
    ['missing column', { code: '000904', sqlState: '42000' }, 'statement', false, 'InvalidColumn'],
    ['syntax error', { code: '001003', sqlState: '42000' }, 'statement', false, 'SqlCompilationError'],
    ['value of the wrong type', { code: '100038', sqlState: '22018' }, 'statement', false, 'IncompatibleData'],
    ['warehouse suspended', { code: '000608', sqlState: '57P03' }, 'statement', true, 'WarehouseSuspended'],
    [
      'warehouse resuming',
      { code: '000630', sqlState: '57014', message: "Warehouse 'LOADING_WH' is resuming, please retry" },
      'statement',
      true,
      'WarehouseResuming',
    ],
    ['internal error', { code: '000603', sqlState: 'XX000' }, 'statement', true, 'InternalError'],
    ['lock wait', { code: '000625', sqlState: '57014' }, 'statement', true, 'LockTimeout'],
    ['unknown server error', { code: '999999', sqlState: '58000' }, 'statement', true, 'StatementFailed'],
    [
      'network',
      { name: 'NetworkError', code: 401001, cause: { code: 'ECONNRESET' } },
      'statement',
      true,
      'NetworkError',
    ],
    [
      'unknown host',
      { name: 'NetworkError', code: 401001, cause: { code: 'ENOTFOUND' } },
      'login',
      false,
      'HostNotFound',
    ],
    [
      '5xx after the SDK retries',
      { name: 'RequestFailedError', code: 401002, response: { statusCode: 503 } },
      'statement',
      true,
      'Http503',
    ],
    [
      '403: wrong account',
      { name: 'RequestFailedError', code: 401002, response: { statusCode: 403 } },
      'login',
      false,
      'Http403',
    ],
    ['invalid options', { name: 'InvalidParameterError', code: 404026 }, 'login', false, 'InvalidConnectionOptions'],
    ['not connected', { name: 'ClientError', code: 407002 }, 'statement', true, 'ClientError'],
  ];
  for (const [what, fields, phase, retryable, code] of cases) {
    it(`${what}: ${retryable ? 'retryable' : 'permanent'} (${code})`, () => {
      const sut = classifySnowflakeError(sdkError(fields), 'COPY INTO', phase);
      expect(sut).to.be.instanceOf(retryable ? RetryableError : PermanentError);
      expect(sut.code).to.equal(code);
    });
  }

  it("keeps Snowflake's message, the step and the code, and the original as cause", () => {
    const original = sdkError({ code: '390100', message: 'Incorrect username or password was specified.' });
    const sut = classifySnowflakeError(original, 'login', 'login');
    expect(sut.message).to.equal('Snowflake login failed: 390100: "Incorrect username or password was specified."');
    expect(sut.cause).to.equal(original);
  });

  it('passes an already classified error through', () => {
    const err = new PermanentError('table cannot hold the events', { code: 'IncompatibleTable' });
    expect(classifySnowflakeError(err, 'x', 'statement')).to.equal(err);
  });
});

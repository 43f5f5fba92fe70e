import { expect } from 'chai';
import { ConfigError, loadConfig } from '@bx/core';
import { POSTGRES_VARIABLES, postgresEnvironmentProblems } from '@bx/destination-postgres';

describe('configuration', () => {
  it('has the contract defaults', () => {
    const sut = loadConfig({});
    expect(sut.REDIS_URL).to.equal('redis://127.0.0.1:6379');
    expect(sut.CLICKHOUSE_URL).to.equal('http://127.0.0.1:8123');
    expect(sut.CLICKHOUSE_DATABASE).to.equal('default');
    expect(sut.EVENTS_TABLE).to.equal('events');
    expect(sut.PORT).to.equal(8080);
    expect(sut.BULL_BOARD_READ_ONLY).to.equal(false);
    expect(Object.isFrozen(sut)).to.equal(true);
  });

  const bad: Array<[string, string]> = [
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['REDIS_URL', 'http://localhost'],
    ['CLICKHOUSE_URL', 'not a url'],
    ['EVENTS_TABLE', 'events; DROP'],
    ['WORKER_CONCURRENCY', '0'],
    ['LOG_LEVEL', 'verbose'],
    ['BULL_BOARD_READ_ONLY', 'maybe'],
    ['RUN_RETENTION_DAYS', '0.01'],
    ['RUN_RETENTION_DAYS', 'forever'],
    ['RUN_RETENTION_DAYS', '0x10'],
    ['RUN_RETENTION_DAYS', '1e3'],
    ['RUN_RETENTION_DAYS', '+5'],
    ['RUN_RETENTION_DAYS', ' 2 '],
    ['TRUST_PROXY', 'everyone'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', 'loopback, 300.1.1.1'],
    ['HTTP_REQUEST_TIMEOUT_MS', '10'],
    ['CLICKHOUSE_SHARED_READS', 'sometimes'],
    ['CLICKHOUSE_URL', 'http://default:hunter2@127.0.0.1:8123'],
    ['CLICKHOUSE_URL', 'http://127.0.0.1:8123/?password=hunter2'],
    ['CLICKHOUSE_URL', 'http://127.0.0.1:8123/#x'],
  ];
  for (const [variable, value] of bad) {
    it(`rejects ${variable}=${value} naming the variable`, () => {
      expect(() => loadConfig({ [variable]: value }))
        .to.throw(ConfigError)
        .with.property('message')
        .that.contains(variable);
    });
  }

  it('names CLICKHOUSE_URL credentials as misplaced without printing them, and keeps a path', () => {
    expect(() => loadConfig({ CLICKHOUSE_URL: 'http://u:hunter2@127.0.0.1:8123' }))
      .to.throw(ConfigError)
      .with.property('message')
      .that.contains('CLICKHOUSE_PASSWORD')
      .and.not.contains('hunter2');
    expect(() => loadConfig({ CLICKHOUSE_URL: 'http://127.0.0.1:8123/?password=hunter2' }))
      .to.throw(ConfigError)
      .with.property('message')
      .that.not.contains('hunter2');
    expect(loadConfig({ CLICKHOUSE_URL: 'https://proxy.example/clickhouse' }).CLICKHOUSE_URL).to.equal(
      'https://proxy.example/clickhouse',
    );
  });

  it('takes RUN_RETENTION_DAYS in fractions of a day too', () => {
    expect(loadConfig({}).RUN_RETENTION_DAYS).to.equal(90);
    expect(loadConfig({ RUN_RETENTION_DAYS: '0.25' }).RUN_RETENTION_DAYS).to.equal(0.25);
  });

  it('reads BULL_BOARD_READ_ONLY as a boolean, so "false" stays false', () => {
    expect(loadConfig({ BULL_BOARD_READ_ONLY: 'true' }).BULL_BOARD_READ_ONLY).to.equal(true);
    expect(loadConfig({ BULL_BOARD_READ_ONLY: '1' }).BULL_BOARD_READ_ONLY).to.equal(true);
    expect(loadConfig({ BULL_BOARD_READ_ONLY: 'false' }).BULL_BOARD_READ_ONLY).to.equal(false);
    expect(loadConfig({ BULL_BOARD_READ_ONLY: '0' }).BULL_BOARD_READ_ONLY).to.equal(false);
  });

  it('shares ClickHouse reads between runs unless CLICKHOUSE_SHARED_READS is false', () => {
    expect(loadConfig({}).CLICKHOUSE_SHARED_READS).to.equal(true);
    expect(loadConfig({ CLICKHOUSE_SHARED_READS: 'false' }).CLICKHOUSE_SHARED_READS).to.equal(false);
    expect(loadConfig({ CLICKHOUSE_SHARED_READS: '0' }).CLICKHOUSE_SHARED_READS).to.equal(false);
  });

  it('requires ADMIN_API_TOKEN for the API role only', () => {
    const plaintext = { ALLOW_PLAINTEXT_SECRETS: 'true' };
    expect(() => loadConfig(plaintext, ['api'])).to.throw(ConfigError, /ADMIN_API_TOKEN/);
    expect(loadConfig({ ...plaintext, ADMIN_API_TOKEN: 'x'.repeat(32) }, ['api']).ADMIN_API_TOKEN).to.equal(
      'x'.repeat(32),
    );
    expect(() => loadConfig(plaintext, ['worker'])).to.not.throw();
  });

  it('reads TRUST_PROXY as Express takes it, and HOST', () => {
    expect(loadConfig({}).TRUST_PROXY).to.equal(false);
    expect(loadConfig({}).HOST).to.equal('0.0.0.0');
    expect(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY).to.equal(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY).to.equal(2);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::1' }).TRUST_PROXY).to.deep.equal([
      'loopback',
      '10.0.0.0/8',
      'fd00::1',
    ]);
  });

  it('requires SECRETS_ENCRYPTION_KEYS of every role, unless ALLOW_PLAINTEXT_SECRETS=true', () => {
    for (const role of ['api', 'scheduler', 'worker'] as const) {
      expect(() => loadConfig({ ADMIN_API_TOKEN: 'x'.repeat(32) }, [role])).to.throw(
        ConfigError,
        /SECRETS_ENCRYPTION_KEYS/,
      );
    }
    const key = Buffer.alloc(32, 1).toString('base64');
    const sut = loadConfig({ SECRETS_ENCRYPTION_KEYS: `${key}, ${Buffer.alloc(32, 2).toString('base64')}` }, [
      'worker',
    ]);
    expect(sut.SECRETS_ENCRYPTION_KEYS!.sealingKeyId).to.match(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(sut)).to.not.contain(key);
    expect(() => loadConfig({ SECRETS_ENCRYPTION_KEYS: 'abc' })).to.throw(
      ConfigError,
      /SECRETS_ENCRYPTION_KEYS.*32 bytes/,
    );
    expect(() => loadConfig({ ALLOWED_PRIVATE_DESTINATIONS: 'http://x' })).to.throw(ConfigError, /ALLOWED_PRIVATE/);
  });

  it('names every bad variable at once, not only the first', () => {
    const err = (() => {
      try {
        loadConfig({ PORT: 'eighty', LOG_LEVEL: 'verbose', REDIS_URL: 'http://x' }, ['api']);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(err.problems.map((p) => p.variable).sort()).to.deep.equal([
      'ADMIN_API_TOKEN',
      'LOG_LEVEL',
      'PORT',
      'REDIS_URL',
      'SECRETS_ENCRYPTION_KEYS',
    ]);
    for (const variable of ['ADMIN_API_TOKEN', 'LOG_LEVEL', 'PORT', 'REDIS_URL'])
      expect(err.message).to.contain(variable);
  });

  it('on a Redis Cluster the prefix carries a hash tag: {bx} by default, refused without one', () => {
    expect(loadConfig({}).QUEUE_PREFIX).to.equal('bx');
    const cluster = loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000, 127.0.0.1:7001' });
    expect(cluster.QUEUE_PREFIX).to.equal('{bx}');
    expect(cluster.REDIS_CLUSTER_NODES).to.deep.equal(['127.0.0.1:7000', '127.0.0.1:7001']);
    expect(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_PREFIX: 'app{x}' }).QUEUE_PREFIX).to.equal(
      'app{x}',
    );
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_PREFIX: 'bx' })).to.throw(
      ConfigError,
      /QUEUE_PREFIX: needs a hash tag/,
    );
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'localhost' })).to.throw(ConfigError, /REDIS_CLUSTER_NODES/);
  });
});

describe('configuration errors say what each variable takes, in one line', () => {
  const message = (env: Record<string, string>) => {
    try {
      loadConfig(env, ['worker']);
    } catch (e) {
      return (e as ConfigError).message;
    }
    throw new Error('no error');
  };
  const keys = { SECRETS_ENCRYPTION_KEYS: 'LB94/xgk7rndq8+rWzqi2257bWPhvZIBq4Riv/hwA7c=' };

  it('numbers: the range they take, not a parser message', () => {
    const sut = message({ ...keys, WORKER_CONCURRENCY: 'abc', RECONCILE_WINDOW_HOURS: '-1', PORT: '70000' });
    expect(sut).to.equal(
      'Invalid configuration: PORT: must be a whole number from 0 to 65535; ' +
        'WORKER_CONCURRENCY: must be a whole number from 1 to 256; ' +
        'RECONCILE_WINDOW_HOURS: must be a whole number from 0 to 8784',
    );
    expect(message({ ...keys, RUN_MAX_ATTEMPTS: '2.5' })).to.equal(
      'Invalid configuration: RUN_MAX_ATTEMPTS: must be a whole number of at least 1',
    );
    for (const value of ['0x1F90', '1e3', '8080.0', '+8080', ' 8080', '']) {
      expect(message({ ...keys, PORT: value === '' ? ' ' : value }), value).to.equal(
        'Invalid configuration: PORT: must be a whole number from 0 to 65535',
      );
    }
    expect(message({ ...keys, RUN_RETENTION_DAYS: 'forever' })).to.equal(
      'Invalid configuration: RUN_RETENTION_DAYS: must be a number of days, at least 0.0417 (an hour)',
    );
  });

  it('durations in ms: at most what a timer holds (2^31 - 1), not a wait that fires at once', () => {
    // setTimeout(f, 2 ** 31) runs f after 1 ms: a grace period or tick this long meant none.
    const timers = [
      'CLICKHOUSE_QUERY_TIMEOUT_MS',
      'CLICKHOUSE_IDLE_TIMEOUT_MS',
      'HTTP_REQUEST_TIMEOUT_MS',
      'SCHEDULER_TICK_MS',
      'RUN_BACKOFF_MS',
      'SHUTDOWN_GRACE_MS',
      'WORKER_LOCK_DURATION_MS',
      'WORKER_STALLED_INTERVAL_MS',
      'RECONCILE_EVERY_MS',
    ];
    for (const variable of timers) {
      expect(loadConfig({ ...keys, [variable]: '2147483647' })[variable as 'PORT']).to.equal(2_147_483_647);
      expect(message({ ...keys, [variable]: '2147483648' })).to.match(
        new RegExp(`^Invalid configuration: ${variable}: must be a whole number from \\d+ to 2147483647$`),
      );
    }
    for (const variable of POSTGRES_VARIABLES) {
      expect(postgresEnvironmentProblems({ [variable]: '2147483647' })).to.deep.equal([]);
      expect(postgresEnvironmentProblems({ [variable]: '3000000000' })).to.deep.equal([
        { variable, message: `must be a whole number from ${variable.includes('LOCK') ? 1 : 100} to 2147483647` },
      ]);
    }
  });

  it('URLs, levels and switches: what is expected', () => {
    expect(message({ ...keys, CLICKHOUSE_URL: 'localhost:8123' })).to.equal(
      'Invalid configuration: CLICKHOUSE_URL: must be a URL starting with http:// or https://',
    );
    expect(message({ ...keys, REDIS_URL: '127.0.0.1:6379' })).to.equal(
      'Invalid configuration: REDIS_URL: must be a URL starting with redis:// or rediss://',
    );
    expect(message({ ...keys, LOG_LEVEL: 'verbose' })).to.equal(
      'Invalid configuration: LOG_LEVEL: must be debug, info, warn or error',
    );
    expect(message({ ...keys, BULL_BOARD_READ_ONLY: 'maybe' })).to.equal(
      'Invalid configuration: BULL_BOARD_READ_ONLY: must be true or false',
    );
  });

  it('a bad SECRETS_ENCRYPTION_KEYS is named, its value never printed', () => {
    for (const value of ['8Y+cplsd3LYG/0DctFJ1JQ==', '!!!not-base64-at-all-but-long-enough!!!', 'c2hvcnQ=,xyz']) {
      const sut = message({ SECRETS_ENCRYPTION_KEYS: value });
      expect(sut).to.match(/^Invalid configuration: SECRETS_ENCRYPTION_KEYS: key \d is not 32 bytes of base64/);
      for (const part of value.split(',')) expect(sut).not.to.contain(part);
    }
  });
});

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const ENTRY_POINTS: Array<[string, string]> = [
  ['api', 'services/api/dist/main.js'],
  ['scheduler', 'services/scheduler/dist/main.js'],
  ['worker', 'services/worker/dist/main.js'],
  ['npm start', 'services/all-in-one/dist/main.js'],
  ['enqueue-backfill', 'services/cli/dist/enqueue-backfill.js'],
  ['verify', 'services/cli/dist/verify.js'],
];
const CLI_ARGS = ['--export-id', 'x', '--start', '2024-01-01T00:00:00Z', '--end', '2024-01-02T00:00:00Z'];

/** Runs an entry point with only `env` (and PATH); its exit code, stdout and stderr. */
function start(file: string, env: Record<string, string>) {
  const args = file.includes('/cli/') ? CLI_ARGS : [];
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, file), ...args],
      { env: { PATH: process.env.PATH!, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

/**
 * A new user's typos: each process exits at once with one line naming the
 * variable and what it takes, no stack trace, no secret value.
 */
describe('bad configuration: every process exits with one line naming the variable', function () {
  this.timeout(120_000);
  // 16 bytes of base64: a key of the wrong length, which must never be printed.
  const shortKey = 'c2hvcnQta2V5LWJ5dGVzIQ==';
  const env = {
    ADMIN_API_TOKEN: 'config-errors-token-0123456789',
    SECRETS_ENCRYPTION_KEYS: shortKey,
    WORKER_CONCURRENCY: 'abc',
    RECONCILE_WINDOW_HOURS: '-1',
    CLICKHOUSE_URL: 'localhost:8123',
    REDIS_URL: 'redis://127.0.0.1:1',
  };

  for (const [name, file] of ENTRY_POINTS) {
    it(name, async () => {
      const sut = await start(file, env);
      expect(sut.code, sut.stderr).to.be.oneOf(name === 'enqueue-backfill' || name === 'verify' ? [2] : [1]);
      expect(sut.stdout).to.equal('');
      const lines = sut.stderr.trim().split('\n');
      expect(lines.map((l) => l.replace(/^(enqueue-backfill|verify): /, ''))).to.deep.equal([
        'Invalid configuration: CLICKHOUSE_URL: must be a URL starting with http:// or https://; ' +
          'WORKER_CONCURRENCY: must be a whole number from 1 to 256; ' +
          'RECONCILE_WINDOW_HOURS: must be a whole number from 0 to 8784; ' +
          'SECRETS_ENCRYPTION_KEYS: key 1 is not 32 bytes of base64 (make one with: openssl rand -base64 32)',
      ]);
      expect(sut.stderr).not.to.contain(shortKey);
    });
  }
});

/**
 * The Postgres destination's own settings (README's table) are the worker's configuration too: a
 * typo stops it at start, with the others, rather than failing every Postgres run permanently
 * (which auto-pauses the exports) while the worker looks healthy.
 */
describe("bad configuration of a destination's settings: the worker exits naming them", function () {
  this.timeout(120_000);
  const env = {
    ALLOW_PLAINTEXT_SECRETS: 'true',
    WORKER_CONCURRENCY: 'abc',
    POSTGRES_LOCK_TIMEOUT_MS: 'soon',
    POSTGRES_CONNECT_TIMEOUT_MS: '5',
    REDIS_URL: 'redis://127.0.0.1:1',
  };

  for (const [name, file] of ENTRY_POINTS.filter(([name]) => name === 'worker' || name === 'npm start')) {
    it(name, async () => {
      const sut = await start(
        file,
        name === 'npm start' ? { ...env, ADMIN_API_TOKEN: 'config-errors-token-0123' } : env,
      );
      expect(sut.code, sut.stderr).to.equal(1);
      expect(sut.stderr.trim().split('\n')).to.deep.equal([
        'Invalid configuration: WORKER_CONCURRENCY: must be a whole number from 1 to 256; ' +
          'POSTGRES_LOCK_TIMEOUT_MS: must be a whole number from 1 to 2147483647; ' +
          'POSTGRES_CONNECT_TIMEOUT_MS: must be a whole number from 100 to 2147483647',
      ]);
    });
  }
});

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { TEST_SECURITY_ENV } from '../helpers/env';
import { ServiceProcess, closedPort } from '../helpers/processes';

const ROOT = join(__dirname, '..', '..');

/** Every line a process wrote, stdout and stderr, without blanks. */
function linesOf(sut: ServiceProcess): string[] {
  const out = sut.logs.map((l) => String(l.msg));
  return [...out, ...sut.stderr.join('').split('\n')].filter((l) => l.trim() !== '');
}

/** Runs a CLI script of services/cli/dist; its exit code and output. */
function cli(script: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'services', 'cli', 'dist', script), ...args],
      { env: { ...process.env, ...TEST_SECURITY_ENV, ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout + stderr }),
    );
  });
}

/**
 * Issue 20, item 6: with Redis down the CLI used to print 16 lines of
 * ECONNREFUSED objects and ioredis's maxRetriesPerRequest text, never naming
 * REDIS_URL. Every process and script says it in one line and exits 1.
 */
describe('Redis unreachable: one line naming REDIS_URL and the address, exit 1', function () {
  this.timeout(60_000);
  let address: string;
  let env: Record<string, string>;

  beforeEach(async () => {
    address = `127.0.0.1:${await closedPort()}`;
    env = { REDIS_URL: `redis://${address}`, ADMIN_API_TOKEN: 'unreachable-token-0123456789', PORT: '0' };
  });

  for (const role of ['api', 'scheduler', 'worker', 'all-in-one'] as const) {
    it(`${role}`, async () => {
      const sut = new ServiceProcess(role, env);
      expect(await sut.exited).to.equal(1);
      const lines = linesOf(sut);
      expect(lines, lines.join('\n')).to.have.length(1);
      expect(lines[0]).to.contain('REDIS_URL').and.contain(address).and.not.contain('maxRetriesPerRequest');
    });
  }

  it('npm run enqueue-backfill and npm run rotate-secrets', async () => {
    const backfill = await cli(
      'enqueue-backfill.js',
      [
        '--export-id',
        '00000000-0000-4000-8000-000000000000',
        '--start',
        '2024-01-01T00:00:00Z',
        '--end',
        '2024-01-02T00:00:00Z',
      ],
      env,
    );
    const rotate = await cli('rotate-secrets.js', [], env);
    for (const { code, out } of [backfill, rotate]) {
      expect(code, out).to.equal(1);
      const lines = out.split('\n').filter((l) => l.trim() !== '');
      expect(lines, out).to.have.length(1);
      expect(lines[0]).to.contain('REDIS_URL').and.contain(address);
    }
  });

  it('a Redis port where something accepts and never answers: "no answer within 5 s", exit 1', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const at = `127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const sut = new ServiceProcess('worker', { ...env, REDIS_URL: `redis://${at}` });
      expect(await sut.exited).to.equal(1);
      expect(linesOf(sut)).to.deep.equal([
        `start-up failed: Redis is not reachable at redis://${at} (REDIS_URL): no answer within 5 s`,
      ]);
    } finally {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

import { expect } from 'chai';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'local-services.sh');

/** `bash scripts/local-services.sh args` with `env` added; its exit code and stderr, or null when it hangs past `ms`. */
function services(args: string[], env: Record<string, string>, ms = 20_000) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn('bash', [SCRIPT, ...args], { env: { ...process.env, ...env }, detached: true });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

async function listening(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listening(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('scripts/local-services.sh', function () {
  this.timeout(60_000);
  let dir: string;
  const held: Array<Server | ReturnType<typeof createHttpServer>> = [];
  const sockets: Socket[] = [];
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bx-services-'))));
  afterEach(async () => {
    sockets.splice(0).forEach((socket) => socket.destroy());
    await Promise.all(
      held.splice(0).map((s) => {
        if ('closeAllConnections' in s) s.closeAllConnections();
        return new Promise((resolve) => s.close(resolve));
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('a Redis port held by something that never answers: one line naming REDIS_PORT, exit 1, no hang', async () => {
    // A listener that accepts and says nothing: `redis-cli ping` waited on it forever.
    const silent = createServer((socket) => sockets.push(socket));
    held.push(silent);
    const port = await listening(silent);
    const sut = await services(['start', 'redis'], { BX_SERVICES_DIR: dir, REDIS_PORT: String(port) });
    expect(sut.code, sut.err).to.equal(1);
    expect(sut.err.trim()).to.equal(
      `[services] port ${port} (REDIS_PORT) is in use by something that is not Redis: stop it, or set REDIS_PORT to a free port`,
    );
  });

  it('our own Redis still loading its append-only file: start waits for it, keeps its data, exit 0', async () => {
    const port = await freePort();
    const env = { BX_SERVICES_DIR: dir, REDIS_PORT: String(port) };
    const cli = (...args: string[]) =>
      execFileSync('redis-cli', ['-p', String(port), ...args])
        .toString()
        .trim();
    expect((await services(['start', 'redis'], env)).code).to.equal(0);
    // 300 keys of 100 bytes in the file's RDB part, which Redis reads back 20 ms a key: about 6 s of
    // LOADING, answering commands every 1 KiB read (as every 2 MiB of a real, large file).
    execFileSync('redis-cli', ['-p', String(port), '--pipe'], {
      input: Array.from({ length: 300 }, (_, i) => `SET key-${i} ${'x'.repeat(100)}\n`).join(''),
    });
    cli('bgrewriteaof');
    while (!/aof_rewrite_in_progress:0[\s\S]*aof_rewrite_scheduled:0/.test(cli('info', 'persistence'))) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    cli('shutdown');
    // The same Redis the script starts (its folder, its pid file), started again and not yet loaded.
    execFileSync('redis-server', [
      ...['--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'yes', '--dir', join(dir, 'redis')],
      ...['--appendonly', 'yes', '--save', '', '--key-load-delay', '20000'],
      ...['--loading-process-events-interval-bytes', '1024'],
      ...['--pidfile', join(dir, 'redis.pid'), '--logfile', join(dir, 'redis.log')],
    ]);
    try {
      let loading = false;
      for (let i = 0; i < 50 && !loading; i++) {
        loading = /^LOADING/.test(execFileSync('bash', ['-c', `redis-cli -p ${port} ping 2>&1 || true`]).toString());
        if (!loading) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(loading, 'Redis answers LOADING').to.equal(true);

      const sut = await services(['start', 'redis'], env, 40_000);

      expect(sut.code, sut.err).to.equal(0);
      expect(sut.err).to.contain(`[services] Redis on :${port} is loading its data; waiting for it`);
      expect(sut.err).to.contain('[services] Redis is up');
      expect(cli('dbsize')).to.equal('300');
    } finally {
      await services(['stop', 'redis'], env);
    }
  });

  it('our own PostgreSQL still starting (rejecting connections): start waits for it, exit 0', async () => {
    const port = await freePort();
    const env = { BX_SERVICES_DIR: dir, POSTGRES_PORT: String(port) };
    const data = join(dir, 'postgres', 'data');
    // As the script runs PostgreSQL's programs: as `postgres` when root (initdb and pg_ctl refuse root).
    const asPostgres = (...args: string[]) =>
      process.getuid?.() === 0
        ? execFileSync('runuser', ['-u', 'postgres', '--', ...args])
        : execFileSync(args[0]!, args.slice(1));
    const pgCtl = (...args: string[]) => asPostgres('/usr/lib/postgresql/15/bin/pg_ctl', '-D', data, ...args);
    const isReady = () =>
      spawnSync('/usr/lib/postgresql/15/bin/pg_isready', ['-h', '127.0.0.1', '-p', String(port)]).status;
    expect((await services(['start', 'postgres'], env, 120_000)).code).to.equal(0);
    expect((await services(['stop', 'postgres'], env)).code).to.equal(0);
    // The same cluster started again as a standby that allows no reads: it rejects connections until promoted.
    writeFileSync(join(data, 'standby.signal'), '');
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', join(data, 'standby.signal')]);
    pgCtl(
      '-l',
      join(dir, 'postgres', 'server.log'),
      '-o',
      `-p ${port} -k ${join(dir, 'postgres')} -c hot_standby=off`,
      'start',
    );
    try {
      for (let i = 0; i < 100 && isReady() !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(isReady(), 'pg_isready: rejecting connections').to.equal(1);

      const sut = services(['start', 'postgres'], env, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      pgCtl('promote');

      const { code, err } = await sut;
      expect(code, err).to.equal(0);
      expect(err).to.contain(`[services] PostgreSQL on :${port} is starting (rejecting connections); waiting for it`);
      expect(err).to.contain(`[services] reusing PostgreSQL on :${port}`);
    } finally {
      pgCtl('-m', 'immediate', 'stop');
    }
  });

  it('an S3 port held by another web server is not taken for the S3 server', async () => {
    const web = createHttpServer((_req, res) => res.end('<html>hello</html>'));
    held.push(web);
    const port = await listening(web);
    const sut = await services(['start', 's3'], { BX_SERVICES_DIR: dir, S3_PORT: String(port) });
    expect(sut.code, sut.err).to.equal(1);
    expect(sut.err).to.contain(`port ${port} (S3_PORT) is in use by something that is not the S3 server`);
  });

  it('urls: export lines for the services on its ports, leaving variables already set alone', async () => {
    const sut = await services(['urls'], {
      REDIS_PORT: '16399',
      S3_PORT: '14599',
      POSTGRES_PORT: '15499',
      CLICKHOUSE_URL: 'http://clickhouse.example:8123',
      REDIS_URL: '',
      S3_ENDPOINT_URL: '',
      POSTGRES_URL: '',
    });
    expect(sut.code, sut.err).to.equal(0);
    expect(sut.out.trim().split('\n')).to.deep.equal([
      'export REDIS_URL=redis://127.0.0.1:16399',
      'export S3_ENDPOINT_URL=http://127.0.0.1:14599',
      'export POSTGRES_URL=postgres://bx:bx@127.0.0.1:15499/bx',
    ]);
  });
});

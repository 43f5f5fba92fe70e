import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { testEnv, uniqueName } from '../helpers/env';
import { ServiceProcess } from '../helpers/processes';

const TOKEN = 'listener-token-0123456789';

/** A port held by another server, as a second `npm start` would find it. */
async function holdPort(host: string): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return server;
}

async function freePort(): Promise<number> {
  const server = await holdPort('127.0.0.1');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether the process exits, or says it listens, first. */
async function outcome(sut: ServiceProcess): Promise<'listening' | number | null> {
  return Promise.race([sut.waitForLog('api listening', 30_000).then(() => 'listening' as const), sut.exitCode()]);
}

/** What the server sends on a raw connection until it closes it. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
    socket.write(text);
  });
}

describe('the API listener', function () {
  this.timeout(60_000);
  const processes: ServiceProcess[] = [];
  const env = (extra: Record<string, string>) => ({
    REDIS_URL: testEnv.REDIS_URL,
    CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
    QUEUE_PREFIX: uniqueName('bxl'),
    ADMIN_API_TOKEN: TOKEN,
    ...extra,
  });
  const start = (role: 'api' | 'all-in-one', extra: Record<string, string>) => {
    const sut = new ServiceProcess(role, env(extra));
    processes.push(sut);
    return sut;
  };
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
  });

  for (const role of ['api', 'all-in-one'] as const) {
    it(`${role}: a busy port fails the process at start, naming the port and PORT`, async () => {
      const held = await holdPort('0.0.0.0');
      const { port } = held.address() as AddressInfo;
      try {
        const sut = start(role, { PORT: String(port) });
        expect(await outcome(sut)).to.equal(1);
        const lines = sut.stderr.join('').trim().split('\n');
        expect(lines, sut.stderr.join('')).to.have.length(1);
        expect(lines[0]).to.contain('PORT').and.to.contain(String(port)).and.to.contain('already in use');
      } finally {
        held.close();
      }
    });
  }

  it('the demo checks its port before it starts anything', async () => {
    const held = await holdPort('0.0.0.0');
    const { port } = held.address() as AddressInfo;
    try {
      const demo = join(__dirname, '..', '..', 'scripts', 'demo.ts');
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', demo],
          { env: { ...process.env, PORT: String(port) } },
          (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
        );
      });
      expect(result.code).to.equal(1);
      expect(result.stderr).to.contain(`port ${port} is already in use`).and.to.contain('PORT');
    } finally {
      held.close();
    }
  });

  it('binds to HOST', async () => {
    const port = await freePort();
    const sut = start('api', { PORT: String(port), HOST: '127.0.0.1' });
    expect(await outcome(sut)).to.equal('listening');
    expect(sut.logs.find((l) => l.msg === 'api listening')).to.include({ host: '127.0.0.1', port });
    const res = await fetch(`http://127.0.0.1:${port}/api/exports`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).to.equal(200);
    // An address this machine does not have is a configuration error naming HOST.
    const elsewhere = start('api', { PORT: String(port), HOST: '192.0.2.1' });
    expect(await outcome(elsewhere)).to.equal(1);
    expect(elsewhere.stderr.join('')).to.contain('HOST');
  });

  it('closes a connection whose request does not arrive in HTTP_REQUEST_TIMEOUT_MS', async () => {
    const port = await freePort();
    const sut = start('api', { PORT: String(port), HOST: '127.0.0.1', HTTP_REQUEST_TIMEOUT_MS: '1000' });
    expect(await outcome(sut)).to.equal('listening');
    const slowBody = await rawRequest(
      port,
      `POST /api/exports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":',
    );
    expect(slowBody).to.match(/^HTTP\/1\.1 408/);
    const slowHeaders = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n');
    expect(slowHeaders).to.match(/^HTTP\/1\.1 408/);
    expect(sut.running).to.equal(true);
  });
});

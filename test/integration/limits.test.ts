import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ApiHarness } from '../helpers/api-harness';
import { S3_CREDENTIALS } from '../helpers/env';
import { ServiceProcess } from '../helpers/processes';

const ROOT = join(__dirname, '..', '..');

describe('limits and unreachable services', function () {
  this.timeout(60_000);

  it('MAX_EXPORTS: past it, creating an export is a 409 that says why; deleting one makes room', async () => {
    const sut = await new ApiHarness({ maxExports: 3 }).start();
    try {
      const body = {
        name: 'capped',
        team_id: 1,
        interval: 'hour',
        destination: { type: 'S3', config: { bucket_name: 'bucket-one', ...S3_CREDENTIALS } },
      };
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await sut.call('POST', '/api/exports', { body })).json.id as string);
      const refused = await sut.call('POST', '/api/exports', { body });
      expect(refused.status).to.equal(409);
      expect(refused.json.error.code).to.equal('too_many_exports');
      expect(refused.json.error.message).to.contain('MAX_EXPORTS');
      expect((await sut.call('DELETE', `/api/exports/${ids[0]!}`)).status).to.equal(204);
      expect((await sut.call('POST', '/api/exports', { body })).status).to.equal(201);
    } finally {
      await sut.close();
    }
  });

  it('GET /api/exports stops a page of large exports early at about 4 MiB, and next continues it', async () => {
    const sut = await new ApiHarness().start();
    try {
      // 64 KB of certificates: the largest ca_cert a Postgres destination takes.
      const pem = readFileSync(join(__dirname, '..', 'fixtures', 'tls', 'cert.pem'), 'utf8');
      const caCert = pem.repeat(Math.floor(65_536 / pem.length));
      const team = 4242;
      const body = {
        name: 'large',
        team_id: team,
        interval: 'hour',
        paused: true,
        destination: {
          type: 'Postgres',
          config: { host: '127.0.0.1', database: 'd', user: 'u', password: 'p', table_name: 't', ca_cert: caCert },
        },
      };
      const ids: string[] = [];
      for (let i = 0; i < 80; i++) {
        const created = await sut.call('POST', '/api/exports', { body });
        expect(created.status, created.text).to.equal(201);
        ids.push(created.json.id as string);
      }
      const listed: string[] = [];
      let next: string | null = null;
      let pages = 0;
      do {
        const cursor: string = next ? `&cursor=${encodeURIComponent(next)}` : '';
        const page = await sut.call('GET', `/api/exports?team_id=${team}&limit=1000${cursor}`);
        expect(page.status).to.equal(200);
        expect(page.text.length, 'bytes of one page').to.be.below(4.5 * 1024 * 1024);
        listed.push(...page.json.results.map((e: { id: string }) => e.id));
        next = page.json.next;
        pages++;
      } while (next);
      expect(pages, 'pages').to.equal(2);
      expect([...listed].sort()).to.deep.equal([...ids].sort());
      // Pages within the bytes keep `limit`.
      const small = await sut.call('GET', `/api/exports?team_id=${team}&limit=10`);
      expect(small.json.results).to.have.length(10);
      expect(small.json.results.map((e: { id: string }) => e.id)).to.deep.equal(listed.slice(0, 10));
      expect(small.json.next).to.be.a('string');
    } finally {
      await sut.close();
    }
  });

  describe('with Redis unreachable', () => {
    let closed: Server;
    let url: string;
    before(async () => {
      // A port nothing listens on: take one, then close it.
      closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as { port: number }).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      url = `redis://127.0.0.1:${port}`;
    });

    it('npm run enqueue-backfill says so in one line naming REDIS_URL and the address, and exits 1', async () => {
      const cli = join(ROOT, 'services', 'cli', 'dist', 'enqueue-backfill.js');
      const args = ['--export-id', 'x', '--start', '2024-01-01T00:00:00Z', '--end', '2024-01-01T01:00:00Z'];
      const { code, err } = await new Promise<{ code: number | null; err: string }>((resolve) => {
        const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, REDIS_URL: url } });
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (c) => resolve({ code: c, err }));
      });
      expect(code).to.equal(1);
      const lines = err.trim().split('\n');
      expect(lines, err).to.have.length(1);
      expect(lines[0]).to.contain('REDIS_URL').and.contain(url.replace('redis://', ''));
    });

    for (const role of ['worker', 'scheduler', 'api'] as const) {
      it(`the ${role} exits 1 at start with one line naming REDIS_URL`, async () => {
        const sut = new ServiceProcess(role, { REDIS_URL: url, ADMIN_API_TOKEN: 'x'.repeat(24), PORT: '0' });
        const code = await sut.exited;
        expect(code).to.equal(1);
        const err = sut.stderr.join('').trim();
        expect(err.split('\n'), err).to.have.length(1);
        expect(err).to.contain('REDIS_URL').and.contain(url.replace('redis://', ''));
      });
    }
  });
});

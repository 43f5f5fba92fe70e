import { expect } from 'chai';
import { spawn } from 'node:child_process';
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

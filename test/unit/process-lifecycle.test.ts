import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from '../helpers/processes';

const CHILD = join(__dirname, '..', 'fixtures', 'shutdown-child.cjs');

/**
 * A stop request once stops in order; asked again, the process exits at once
 * (130). Under an npm script every request arrives twice (npm hands its copy
 * on), so the copy must not force the exit, however late it comes; two quick
 * presses must.
 */
describe('onShutdown: a repeated stop request forces the exit, a copy of one does not', function () {
  this.timeout(20_000);

  /** Starts the child, sends `signals` one at a time (each handled before the next), then ends its stop. */
  async function run(signals: number, env: NodeJS.ProcessEnv) {
    const child = spawn(process.execPath, [CHILD], { env: { PATH: process.env.PATH, ...env } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let code: number | null | undefined;
    void exited.then((c) => (code = c));
    await eventually(async () => (stderr.includes('ready') ? true : undefined), 10_000, 'the child ready');
    for (let i = 1; i <= signals && code === undefined; i++) {
      child.kill('SIGINT');
      await eventually(
        async () => (stderr.split('got SIGINT').length - 1 >= i || code !== undefined ? true : undefined),
        10_000,
        `signal ${i} handled`,
      );
    }
    child.stdin.end('stop\n');
    return { code: await exited, stderr };
  }

  it('run as node: one signal stops in order (0), a second exits at once (130)', async () => {
    expect((await run(1, {})).code).to.equal(0);
    const twice = await run(2, {});
    expect(twice.code).to.equal(130);
    expect(twice.stderr).to.contain('SIGINT received, shutting down (send it again to stop at once)');
  });

  it('under an npm script: the copy of the first request does not force, a second request does', async () => {
    const npm = { npm_lifecycle_event: 'start' };
    expect((await run(2, npm)).code, 'one Ctrl-C (the terminal’s and npm’s copy)').to.equal(0);
    expect((await run(4, npm)).code, 'two Ctrl-C').to.equal(130);
  });
});

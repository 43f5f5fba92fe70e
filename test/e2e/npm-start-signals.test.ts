import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { TEST_SECURITY_ENV, testEnv, uniqueName } from '../helpers/env';
import { eventually } from '../helpers/processes';

const ROOT = join(__dirname, '..', '..');

/** The npm scripts that start the product, the line each logs once running, and those it logs once stopped. */
const SCRIPTS: Array<[string, string, string[]]> = [
  ['start', 'worker started', ['api stopped', 'scheduler stopped', 'worker stopped']],
  ['start:api', 'api listening', ['api stopped']],
  ['start:scheduler', 'scheduler started', ['scheduler stopped']],
  ['start:worker', 'worker started', ['worker stopped']],
];

/** Every process below `pid` (children, theirs, ...). */
function descendants(pid: number): number[] {
  // `ps` exits 1 when there are none.
  const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((line) => Number(line.trim()))
    .filter((child) => child > 0);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A process manager (systemd, `docker stop`, `kill $!` after `npm start &`)
 * signals the npm process it started: the product must get the signal and
 * shut down in order, not be left running without npm, holding its port and
 * its runs. Ctrl-C signals npm and the product at once, and npm hands its
 * signal on: the product gets it twice, and must still stop in order.
 */
describe('npm start and start:<role> hand SIGTERM to the product', function () {
  this.timeout(120_000);
  const survivors: number[] = [];
  afterEach(() => {
    for (const pid of survivors.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  /** `kill <npm's pid>` (systemd, docker stop), and Ctrl-C in a terminal: SIGINT to npm and the product both. */
  const SIGNALS: Array<[string, (npm: ChildProcess) => void]> = [
    ['SIGTERM to npm', (npm) => npm.kill('SIGTERM')],
    ['Ctrl-C (SIGINT to its process group)', (npm) => process.kill(-npm.pid!, 'SIGINT')],
  ];

  for (const [script, startedLine, stoppedLines] of SCRIPTS) {
    for (const [how, send] of SIGNALS) {
      it(`npm run ${script}, ${how}: the product stops in order, nothing left running`, async () => {
        const sut = spawn('npm', ['run', '-s', script], {
          cwd: ROOT,
          detached: true,
          env: {
            PATH: process.env.PATH!,
            ...TEST_SECURITY_ENV,
            REDIS_URL: testEnv.REDIS_URL,
            CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
            QUEUE_PREFIX: uniqueName('bxnpm'),
            ADMIN_API_TOKEN: 'npm-start-signals-token-0123456789',
            HOST: '127.0.0.1',
            PORT: '0',
          },
        });
        let out = '';
        sut.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        sut.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        // 'close': npm exited and every holder of its output pipes (the product too) closed them, so
        // `out` has the product's last lines ('exit' came before they were read, on a busy machine).
        const exited = new Promise((resolve) => sut.once('close', resolve));
        await eventually(async () => (out.includes(`"msg":"${startedLine}"`) ? true : undefined), 60_000, startedLine);
        const below = descendants(sut.pid!);
        survivors.push(...below);

        send(sut);
        await exited;
        await eventually(async () => (below.some(alive) ? undefined : true), 10_000, 'the product to exit').catch(
          () => undefined,
        );

        expect(below.filter(alive), `left running after npm exited:\n${out}`).to.deep.equal([]);
        for (const line of stoppedLines) expect(out, out).to.contain(`"msg":"${line}"`);
      });
    }
  }
});

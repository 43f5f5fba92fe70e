import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CASE_NAMES } from '../../bench/options';
import { BENCH_CASES } from '../../bench/product';

const ROOT = join(__dirname, '..', '..');

/** `npm run bench -- <argv>` as the operator types it: tsx bench/run.ts, nothing listening anywhere. */
function bench(argv: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), ...argv], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1', CLICKHOUSE_URL: 'http://127.0.0.1:1' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('npm run bench: arguments', function () {
  this.timeout(120_000);

  it('--help prints the usage and exits 0, starting nothing', () => {
    const sut = bench(['--help']);
    expect(sut.code, sut.stderr).to.equal(0);
    expect(sut.stdout).to.match(/^usage: npm run bench/);
    expect(sut.stdout).to.include('--rows N');
    expect(sut.stdout).to.include('--scale');
    expect(sut.stderr).to.equal('');
  });

  for (const [what, argv, message] of [
    ['an unknown option', ['--bogus'], "Unknown option '--bogus'"],
    ['rows that are not a number', ['--rows', 'many'], "--rows: 'many' is not a whole number of at least 1000"],
    ['no repetitions', ['--reps', '0'], "--reps: '0' is not a whole number of at least 1"],
    ['scale exports that are not a number', ['--scale', '--exports', '10k'], "--exports: '10k' is not a whole number"],
    ['a scale window that is not a number', ['--scale', '--scale-window', 'x'], "--scale-window: 'x' is not a whole"],
    ['worker counts that are not counts', ['--scale', '--scale-workers', '1,,4'], "--scale-workers: '1,,4' is not"],
    ['a case it does not have', ['--cases', 'jsonl_zstd,bogus'], '--cases: unknown case bogus'],
  ] as const) {
    it(`${what} exits 2 with a message and the usage, no stack trace`, () => {
      const sut = bench([...argv]);
      expect(sut.code, sut.stderr).to.equal(2);
      expect(sut.stderr).to.include(message);
      expect(sut.stderr).to.include('usage: npm run bench');
      expect(sut.stderr).not.to.match(/\n\s+at /);
    });
  }
});

describe('npm run bench: --cases names every case the benchmark has', () => {
  it('CASE_NAMES and BENCH_CASES are the same list', () => {
    expect([...CASE_NAMES].sort()).to.deep.equal(Object.keys(BENCH_CASES).sort());
  });
});

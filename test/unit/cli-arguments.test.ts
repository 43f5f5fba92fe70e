import { expect } from 'chai';
import { ValidationError } from '@bx/core';
import { main as enqueueBackfill, rotateSecretsMain, verifyMain } from '@bx/cli';
import { optionMessage } from '../../services/cli/src/cli-range';

/** Nothing listens there: a command that tried to connect would exit 1 or 3 saying Redis is not reachable. */
const ENV = { REDIS_URL: 'redis://127.0.0.1:1', CLICKHOUSE_URL: 'http://127.0.0.1:1' };

async function run(command: typeof enqueueBackfill, argv: string[], env: Record<string, string> = ENV) {
  let stdout = '';
  let stderr = '';
  const code = await command(
    argv,
    env,
    { write: (s: string) => ((stdout += s), true) } as never,
    { write: (s: string) => ((stderr += s), true) } as never,
  );
  return { code, stdout, stderr };
}

describe('the commands refuse bad arguments by their option names, before connecting', () => {
  const good = ['--export-id', 'x', '--start', '2024-05-01T00:00:00Z', '--end', '2024-05-02T00:00:00Z'];
  const cases: Array<[string, string[], string]> = [
    ['a date that is not ISO 8601', ['--start', 'yesterday'], "--start: 'yesterday' is not an ISO 8601 date-time"],
    ['a bare number (Date.parse reads "1" as 2001)', ['--end', '1'], "--end: '1' is not an ISO 8601 date-time"],
    ['a time without its date (luxon reads "10:00" as today)', ['--start', '10:00'], "--start: '10:00' is not an ISO"],
    ['a time and offset without a date', ['--end', '10:00+24:00'], "--end: '10:00+24:00' is not an ISO 8601 date-time"],
    // A date that does not exist was "not an ISO 8601 date-time", which it is: the part out of range is named.
    [
      'a leap day of a common year',
      ['--start', '2023-02-29'],
      "--start: '2023-02-29' does not exist: day 29 is out of range",
    ],
    [
      'a leap second',
      ['--end', '2016-12-31T23:59:60Z'],
      "--end: '2016-12-31T23:59:60Z' does not exist: second 60 is out of range",
    ],
    ['a date before 1970', ['--start', '1969-12-31T00:00:00Z'], "--start: '1969-12-31T00:00:00Z' is outside"],
    ['an end before the start', ['--end', '2024-04-01T00:00:00Z'], '--end must be after --start'],
  ];
  for (const [sut, name] of [
    [enqueueBackfill, 'enqueue-backfill'],
    [verifyMain, 'verify'],
  ] as const) {
    for (const [what, change, message] of cases) {
      it(`${name}: ${what} exits 2 with one line naming the option`, async () => {
        const argv = [...good];
        for (let i = 0; i < change.length; i += 2) argv[argv.indexOf(change[i]!) + 1] = change[i + 1]!;
        const result = await run(sut, argv);
        expect(result.code, result.stderr).to.equal(2);
        expect(result.stderr).to.match(new RegExp(`^${name}: `));
        expect(result.stderr).to.contain(message);
        expect(result.stderr.trim().split('\n')).to.have.length(1);
      });
    }
  }

  it('enqueue-backfill: a --poll-ms that is not a whole number exits 2 naming it', async () => {
    for (const value of ['abc', '1.5', '0', '9e9']) {
      const result = await run(enqueueBackfill, [...good, '--wait', '--poll-ms', value]);
      expect([result.code, result.stderr]).to.deep.equal([
        2,
        `enqueue-backfill: --poll-ms: '${value}' is not a whole number from 10 to 60000\n`,
      ]);
    }
  });

  it("the backfill service's refusals name the command's options, not the API's fields", () => {
    const refusal = (field: string, message: string, code?: string) =>
      new ValidationError(`Invalid body: ${field}: ${message}`, [{ field, message }], code);
    expect(
      optionMessage(refusal('end_at', 'end_at is in the future; the scheduler exports intervals as they end')),
    ).to.equal('--end is in the future; the scheduler exports intervals as they end');
    expect(optionMessage(refusal('start_at', 'range holds more than 50000 intervals'))).to.equal(
      '--start: range holds more than 50000 intervals',
    );
    expect(
      optionMessage(
        refusal(
          'confirm',
          'the range holds 2000 intervals; more than 1000 need "confirm": true (try "dry_run": true first)',
          'confirmation_required',
        ),
      ),
    ).to.equal('--confirm: the range holds 2000 intervals; more than 1000 need --confirm (try --dry-run first)');
  });

  it('npm run without --: says that npm kept the options, and how to pass them', async () => {
    // `npm run verify --export-id x --start A --end B`: npm sets npm_config_* to 'true' and passes x, A, B.
    const npmEnv = { ...ENV, npm_config_export_id: 'true', npm_config_start: 'true', npm_config_end: 'true' };
    for (const [sut, name] of [
      [enqueueBackfill, 'enqueue-backfill'],
      [verifyMain, 'verify'],
    ] as const) {
      const result = await run(sut, ['x', '2024-05-01T00:00:00Z', '2024-05-02T00:00:00Z'], npmEnv);
      expect(result.code).to.equal(2);
      expect(result.stderr.split('\n').slice(0, 2)).to.deep.equal([
        `${name}: Unexpected argument 'x'. This command does not take positional arguments`,
        `npm kept --export-id, --start, --end for itself: put -- between the script and its options (npm run ${name} -- --export-id ...)`,
      ]);
    }
  });

  it('rotate-secrets: an option it does not take (--dry-run) exits 2 before re-encrypting anything', async () => {
    // With a key and a Redis, the old command ignored its arguments and re-encrypted every export.
    const env = { ...ENV, SECRETS_ENCRYPTION_KEYS: Buffer.alloc(32, 7).toString('base64') };
    for (const argv of [['--dry-run'], ['now']]) {
      const result = await run(rotateSecretsMain, argv, env);
      expect(result.code, result.stderr).to.equal(2);
      expect(result.stderr).to.match(/^rotate-secrets: (Unknown option '--dry-run'|Unexpected argument 'now')/);
      expect(result.stderr).to.include('usage: npm run rotate-secrets');
      expect(result.stdout).to.equal('');
    }
    expect((await run(rotateSecretsMain, ['--help'], env)).code).to.equal(0);
  });

  it('rotate-secrets: `npm run rotate-secrets --dry-run` (npm keeps the flag) exits 2 too', async () => {
    const env = { ...ENV, SECRETS_ENCRYPTION_KEYS: Buffer.alloc(32, 7).toString('base64'), npm_config_dry_run: 'true' };
    const result = await run(rotateSecretsMain, [], env);
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.match(/^rotate-secrets: it has no dry run\nnpm kept --dry-run for itself/);
    expect(result.stdout).to.equal('');
  });
});

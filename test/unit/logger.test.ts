import { expect } from 'chai';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createLogger, type LogLevel } from '@bx/core';

function capture(level: LogLevel = 'debug', secretFields?: string[]) {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const sut = createLogger({ service: 'test' }, level, {
    destination: (line) => {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
    secretFields,
  });
  return { sut, lines, raw };
}

describe('logger', () => {
  it('writes one JSON line with the documented fields', () => {
    const { sut, lines } = capture();
    sut.info('run started', { export_id: 'e1', run_id: 'r1', attempt: 1 });
    expect(lines).to.have.length(1);
    const line = lines[0]!;
    expect(line).to.include({ level: 'info', msg: 'run started', service: 'test', export_id: 'e1', attempt: 1 });
    expect(line.time).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(line).to.not.have.any.keys('pid', 'hostname');
  });

  it('drops lines below its level', () => {
    const { sut, lines } = capture('warn');
    sut.debug('d');
    sut.info('i');
    sut.warn('w');
    sut.error('e');
    expect(lines.map((l) => [l.level, l.msg])).to.deep.equal([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
  });

  it('redacts secret fields at the top and nested, keeping the rest', () => {
    const { sut, raw, lines } = capture('info', ['api_secret_x']);
    sut.info('config', {
      password: 'pw-top',
      config: { aws_secret_access_key: 'sk-nested', region: 'eu-west-1' },
      destination: { type: 'Snowflake', config: { password: 'pw-deep', private_key: 'pem', user: 'u' } },
      headers: { authorization: 'Bearer tok-1' },
      a: { b: { c: { token: 'tok-2' } } },
      plugin: { api_secret_x: 'from-a-plugin' },
    });
    const text = raw.join('\n');
    for (const secret of ['pw-top', 'sk-nested', 'pw-deep', 'pem', 'tok-1', 'tok-2', 'from-a-plugin']) {
      expect(text).to.not.contain(secret);
    }
    const line = lines[0] as Record<string, Record<string, unknown>>;
    expect(line.config).to.deep.equal({ aws_secret_access_key: '[redacted]', region: 'eu-west-1' });
    expect((line.destination!.config as Record<string, unknown>).user).to.equal('u');
  });

  it('adds a child logger fields to each of its lines, and redacts them too', () => {
    const { sut, lines, raw } = capture();
    const child = sut.child({ export_id: 'e1', run_id: 'r1', attempt: 2, destination: { password: 'pw-child' } });
    child.child({ file: 'a.jsonl' }).info('file written', { bytes: 10 });
    sut.info('parent');
    expect(lines[0]).to.include({ service: 'test', export_id: 'e1', run_id: 'r1', attempt: 2, file: 'a.jsonl' });
    expect(lines[0]).to.include({ bytes: 10, msg: 'file written' });
    expect(lines[1]).to.not.have.any.keys('export_id', 'file');
    expect(raw.join('\n')).to.not.contain('pw-child');
  });

  it('also writes a child lines to its own sink, with every field and redacted', () => {
    const { sut, lines, raw } = capture('info');
    const runRaw: string[] = [];
    const child = sut.child({ export_id: 'e1', run_id: 'r1' }, (line) => runRaw.push(line));
    child.child({ attempt: 1 }).info('run started', { destination: { config: { password: 'pw-run' } } });
    child.debug('below the level');
    sut.info('not the run');
    const run = runRaw.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(run).to.have.length(1);
    expect(run[0]).to.include({ msg: 'run started', service: 'test', export_id: 'e1', run_id: 'r1', attempt: 1 });
    expect(JSON.stringify(run)).to.not.contain('pw-run');
    expect(raw.filter((line) => line.includes('"run_id"'))).to.have.length(1);
    expect(runRaw[0]!.match(/"service":/g)).to.have.length(1);
    expect(lines.map((l) => l.msg)).to.deep.equal(['run started', 'not the run']);
  });

  it('gives a child its run log the line it writes, made once; info lines too while stdout is at warn', () => {
    const { sut, raw } = capture('warn');
    const runRaw: string[] = [];
    const run = sut.child({ run_id: 'r1' }, (line) => runRaw.push(line)).child({ attempt: 1 });
    run.info('run started', { config: { password: 'pw-info' } });
    run.warn('run failed, will retry', { config: { password: 'pw-warn' } });
    run.debug('never');
    expect(raw).to.have.length(1);
    // The warn line is the very line written to stdout; the info line has the same fields.
    expect(runRaw).to.deep.equal([runRaw[0], raw[0]]);
    const info = JSON.parse(runRaw[0]!) as Record<string, unknown>;
    expect(info).to.include({ level: 'info', msg: 'run started', service: 'test', run_id: 'r1', attempt: 1 });
    expect(runRaw.join('\n')).to.not.match(/pw-info|pw-warn/);
  });

  it('keeps the lines of children with sinks of their own apart, nested children included', () => {
    const { sut } = capture('info');
    const a: string[] = [];
    const b: string[] = [];
    const runA = sut.child({ run_id: 'a' }, (line) => a.push(line));
    const runB = sut.child({ run_id: 'b' }, (line) => b.push(line));
    runA.info('a1');
    runB.child({ file: 'x' }).info('b1');
    runA.child({ file: 'y' }).warn('a2');
    sut.info('neither');
    runB.info('b2');
    const msgs = (lines: string[]) => lines.map((l) => JSON.parse(l) as { msg: string; run_id: string });
    expect(msgs(a).map((l) => [l.msg, l.run_id])).to.deep.equal([
      ['a1', 'a'],
      ['a2', 'a'],
    ]);
    expect(msgs(b).map((l) => [l.msg, l.run_id])).to.deep.equal([
      ['b1', 'b'],
      ['b2', 'b'],
    ]);
  });

  it('redacts secrets inside arrays, and leaves the fields it was given unchanged', () => {
    const { sut, raw, lines } = capture('info', ['api_secret_x']);
    const fields = {
      targets: [{ password: 'pw-item' }, { nested: [{ api_secret_x: 'from-a-plugin' }] }, 'plain'],
      config: { token: 'tok-obj', region: 'eu-west-1' },
    };
    const given = JSON.stringify(fields);
    sut.child({ files: [{ authorization: 'Bearer tok-child' }] }).info('config', fields);
    expect(raw.join('\n')).to.not.match(/pw-item|from-a-plugin|tok-obj|tok-child/);
    expect(lines[0]!.targets).to.deep.equal([
      { password: '[redacted]' },
      { nested: [{ api_secret_x: '[redacted]' }] },
      'plain',
    ]);
    expect(JSON.stringify(fields)).to.equal(given);
  });

  it('redacts a secret four objects down, and not the fields beside it', () => {
    const { sut, lines } = capture();
    sut.info('deep', { a: { b: { c: { d: { password: 'pw-4', keep: 1 } } } } });
    expect(lines[0]!.a).to.deep.equal({ b: { c: { d: { password: '[redacted]', keep: 1 } } } });
  });

  it('writes an error as its name and message, without the stack or cause', () => {
    const { sut, lines, raw } = capture();
    const cause = { request: { headers: { 'x-amz-security-token': 'tok-3' } } };
    const err = Object.assign(new TypeError('boom', { cause }), { config: { password: 'pw-err' } });
    sut.error('failed', { err, nested: { error: err } });
    expect(lines[0]!.err).to.deep.equal({ name: 'TypeError', message: 'boom' });
    expect((lines[0]!.nested as Record<string, unknown>).error).to.deep.equal({ name: 'TypeError', message: 'boom' });
    expect(raw[0]).to.not.match(/tok-3|pw-err|at Context/);
  });

  it('writes lines logged together to stdout in one write, soon, while the process runs', async () => {
    // The process stays until its stdin closes: its lines must come before that.
    const script = `
      const { createLogger } = require('@bx/core');
      const log = createLogger({ service: 'batch' });
      log.info('one'); log.info('two'); log.info('three');
      process.stdin.resume();`;
    const sut = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'ignore'] });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        sut.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString()));
        sut.once('exit', (code) => reject(new Error(`exited (${code}) before writing`)));
      });
      // Written one by one, the first line would go alone.
      expect(
        first
          .trim()
          .split('\n')
          .map((line) => (JSON.parse(line) as { msg: string }).msg),
      ).to.deep.equal(['one', 'two', 'three']);
    } finally {
      sut.stdin.end();
      sut.kill();
    }
  });

  // Lines still waiting for their batch when the process ends (it runs out of work, calls
  // process.exit, or dies of an uncaught exception) are written synchronously at exit.
  for (const [how, end] of [
    ['runs out of work', ''],
    ['calls process.exit', 'process.exit(0);'],
    ['throws', "throw new Error('boom');"],
  ] as const) {
    it(`writes the lines still waiting when the process ${how}`, () => {
      const script = `
        const { createLogger } = require('@bx/core');
        const log = createLogger({ service: 'end' });
        log.info('one'); log.warn('two'); log.error('three');
        ${end}`;
      for (let round = 0; round < 5; round++) {
        const sut = spawnSync(process.execPath, ['-e', script], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        const msgs = sut.stdout
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((line) => (JSON.parse(line) as { msg: string }).msg);
        expect(msgs, `round ${round}`).to.deep.equal(['one', 'two', 'three']);
      }
    });
  }

  it('writes every line to stdout before the process exits', () => {
    const script = `
      const { createLogger, onShutdown } = require('@bx/core');
      const log = createLogger({ service: 'exit' });
      for (let i = 0; i < 20000; i++) log.info('line', { i, pad: 'x'.repeat(100) });
      onShutdown({ stop: async () => log.info('stopped') });
      process.kill(process.pid, 'SIGTERM');`;
    const out = execFileSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const lines = out.trim().split('\n');
    expect(lines).to.have.length(20001);
    expect(JSON.parse(lines[lines.length - 1]!)).to.include({ msg: 'stopped', service: 'exit' });
  });
});

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { ApiHarness, TOKEN } from '../helpers/api-harness';

const ROOT = join(__dirname, '..', '..');
const bin = (pkg: string, file: string) => join(ROOT, 'node_modules', pkg, file);

function run(file: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  return new Promise<{ code: number; out: string }>((resolve) => {
    execFile(file, args, { cwd, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

/**
 * The served document (/api/openapi.json) as a client's author meets it:
 * clean under Redocly's `recommended` rules, and the README's way to a
 * typed client works on it offline: openapi-typescript generates the types,
 * the README's openapi-fetch example compiles against them and creates an
 * export on this API.
 */
describe('OpenAPI document: lint and a generated TypeScript client', function () {
  this.timeout(120_000);
  let api: ApiHarness;
  let doc: { paths: Record<string, Record<string, { operationId?: string }>> };
  let dir: string;

  before(async () => {
    api = await new ApiHarness().start();
    const served = await api.call('GET', '/api/openapi.json');
    expect(served.status).to.equal(200);
    doc = served.json;
    dir = mkdtempSync(join(tmpdir(), 'bx-openapi-client-'));
  });
  after(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("has no problem under Redocly's recommended rules (operationIds, servers, 2xx and 4xx answers)", async () => {
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: 'openapi.json', config });
    const listed = problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`);
    expect(listed).to.deep.equal([]);
  });

  it('gives every operation a distinct operationId', () => {
    const ids = Object.values(doc.paths).flatMap((item) =>
      Object.entries(item)
        .filter(([key]) => key !== 'parameters')
        .map(([, op]) => op.operationId),
    );
    expect(ids).to.not.include(undefined);
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it("the README's client, as printed: openapi-typescript generates types, openapi-fetch compiles and runs", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```(sh|ts)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], code: m[2]! }));
    const shell = blocks.find((b) => b.lang === 'sh' && b.code.includes('openapi-typescript'))!.code;
    const client = blocks.find((b) => b.lang === 'ts' && b.code.includes("from 'openapi-fetch'"))!.code;
    const host = api.base.replace('http://', '');
    // The packages a user's project would have installed (openapi-typescript, openapi-fetch, typescript, tsx).
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const token = { ADMIN_API_TOKEN: TOKEN };
    const generated = await run(
      'bash',
      ['-euo', 'pipefail', '-c', shell.replaceAll('localhost:8080', host)],
      dir,
      token,
    );
    expect(generated.code, generated.out).to.equal(0);
    const types = readFileSync(join(dir, 'bx-api.d.ts'), 'utf8');
    for (const id of ['createExport', 'listRuns', 'createBackfill', 'cancelBackfill']) {
      expect(types).to.match(new RegExp(`\\b${id}: \\{`));
    }
    writeFileSync(join(dir, 'client.ts'), client.replaceAll('http://localhost:8080', api.base));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2022',
          module: 'preserve',
          moduleResolution: 'bundler',
          skipLibCheck: true,
          types: ['node'],
        },
        files: ['client.ts'],
      }),
    );
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const compiled = await run(process.execPath, [bin('typescript', 'bin/tsc'), '-p', '.'], dir);
    expect(compiled.code, compiled.out).to.equal(0);

    const ran = await run(process.execPath, ['--import', 'tsx', 'client.ts'], dir, token);
    expect(ran.code, ran.out).to.equal(0);
    const [id, runs] = ran.out.trim().split('\n').pop()!.split(' ');
    expect(runs).to.equal('0');
    expect((await api.call('GET', `/api/exports/${id}`)).json.name).to.equal('events to S3');
  });
});

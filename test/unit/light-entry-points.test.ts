import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * What only the worker's data path may load: our addon, the batch, the
 * writers and their codecs and SDKs. (BullMQ's msgpackr loads an optional
 * addon of its own, with a JavaScript fallback.)
 */
const DATA_PATH =
  /[\\/]packages[\\/](native|batch)[\\/]|bx_native\.node$|[\\/](s3-destination|snowflake-destination|postgres-destination|copy-binary|row-binary-frames)\.js$|[\\/]node_modules[\\/](zstd-napi|hysnappy|snowflake-sdk|@aws-sdk[\\/]client-s3)[\\/]/;

/** The modules `require`s of `modules` put in require.cache that match DATA_PATH, in a fresh process. */
function dataPathLoadedBy(modules: string[]): string[] {
  const script = `
    for (const name of ${JSON.stringify(modules)}) require(name);
    const pattern = new RegExp(${JSON.stringify(DATA_PATH.source)});
    process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((file) => pattern.test(file))));`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
  return (JSON.parse(out) as string[]).map((file) => file.slice(ROOT.length + 1));
}

describe('entry points the API, scheduler and CLI load', function () {
  this.timeout(30_000);

  it('load no native code, no batch and no destination writer', () => {
    const sut = dataPathLoadedBy([
      '@bx/core',
      '@bx/store',
      '@bx/queue',
      '@bx/operations',
      '@bx/destinations',
      '@bx/destination-s3/plugin',
      '@bx/destination-snowflake/plugin',
      '@bx/destination-postgres/plugin',
      '@bx/clickhouse/ping',
      '@bx/clickhouse/sql',
      '@bx/models',
      '@bx/model-events',
      '@bx/model-persons',
      '@bx/api',
      '@bx/scheduler',
      '@bx/cli',
    ]);
    expect(sut).to.deep.equal([]);
  });

  it('are told apart from the data path, which does load them', () => {
    const sut = dataPathLoadedBy([
      '@bx/worker',
      '@bx/destination-s3',
      '@bx/destination-snowflake',
      '@bx/destination-postgres',
    ]);
    expect(sut.some((file) => file.endsWith('bx_native.node'))).to.equal(true);
    expect(sut.some((file) => file.startsWith(join('packages', 'batch')))).to.equal(true);
    expect(sut.some((file) => file.endsWith('s3-destination.js'))).to.equal(true);
    expect(sut.some((file) => file.endsWith('copy-binary.js'))).to.equal(true);
  });
});

import { ConfigError, ExportSecrets, UnreachableError, errorMessage, loadConfig, type BatchExport } from '@bx/core';
import { secretFieldsOf } from '@bx/destinations';
import { EXPORT_WRITE_ATTEMPTS, Store, concurrentWriters } from '@bx/store';
import { npmTookOptions, parseOptions } from './parse-options';

const USAGE = `usage: npm run rotate-secrets

Re-encrypts the destination secrets of every export with the first key of
SECRETS_ENCRYPTION_KEYS (secrets stored in clear are encrypted too). Run it
after putting a new key first; once it reports every export current, the old
keys can be removed. Safe to run again, and while the services run.
Environment: SECRETS_ENCRYPTION_KEYS (the new key first, then the old ones),
REDIS_URL, QUEUE_PREFIX (as the services).
It takes no options: it has no dry run (it re-encrypts at once).
Exit codes: 0 every export current, 1 some secrets open with none of the
keys (or Redis is unreachable), 2 bad arguments or configuration.`;

/** How often a progress line is printed, in exports. */
const PROGRESS_EVERY = 500;

/** Exit codes: 0 every export current, 1 some secrets open with none of the keys (or Redis is unreachable), 2 bad arguments or configuration. */
export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: { write(s: string): unknown } = process.stdout,
  err: { write(s: string): unknown } = process.stderr,
): Promise<number> {
  // Strict: an option it does not know (`--dry-run`, expecting a dry run) must not re-encrypt every export.
  let args;
  try {
    args = parseOptions(argv, { help: { type: 'boolean', short: 'h', default: false } });
  } catch (e) {
    err.write(`rotate-secrets: ${errorMessage(e)}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    out.write(USAGE + '\n');
    return 0;
  }
  // `npm run rotate-secrets --dry-run` (no `--`): npm keeps the flag (npm_config_dry_run) and passes nothing.
  if (env.npm_config_dry_run === 'true') {
    err.write(`rotate-secrets: it has no dry run${npmTookOptions(env, 'rotate-secrets', ['dry-run'])}\n${USAGE}\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(env);
    if (!config.SECRETS_ENCRYPTION_KEYS) {
      throw new ConfigError('SECRETS_ENCRYPTION_KEYS', 'is required: its first key encrypts every secret');
    }
  } catch (e) {
    err.write(`rotate-secrets: ${e instanceof ConfigError ? e.message : errorMessage(e)}\n`);
    return 2;
  }
  const secrets = new ExportSecrets(config.SECRETS_ENCRYPTION_KEYS, secretFieldsOf);
  const store = Store.connect(
    { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES },
    config.QUEUE_PREFIX,
    { secrets },
  );
  const counts = { rotated: 0, current: 0, unreadable: 0 };
  const progress = (checked: number, total: number) =>
    out.write(
      `rotate-secrets: ${checked}/${total} checked, ${counts.rotated} re-encrypted, ` +
        `${counts.current} already current, ${counts.unreadable} unreadable\n`,
    );
  try {
    await store.assertReachable();
    const total = await store.exports.count();
    out.write(`rotate-secrets: ${total} exports; sealing with key ${config.SECRETS_ENCRYPTION_KEYS.sealingKeyId}\n`);
    let checked = 0;
    for await (const ids of store.exports.ids()) {
      for (const id of ids) {
        const outcome = await rotate(store, secrets, id);
        if (outcome !== 'deleted') counts[outcome]++;
        if (outcome === 'unreadable')
          err.write(`rotate-secrets: export ${id}: its secrets open with none of the keys\n`);
        if (++checked % PROGRESS_EVERY === 0) progress(checked, Math.max(total, checked));
      }
    }
    progress(checked, Math.max(total, checked));
  } catch (e) {
    err.write(`rotate-secrets: ${e instanceof UnreachableError ? e.message : `failed: ${errorMessage(e)}`}\n`);
    return 1;
  } finally {
    await store.close();
  }
  return counts.unreadable === 0 ? 0 : 1;
}

/** Re-seals one export; a concurrent change (the API saving it) makes it start over on the new version. */
async function rotate(
  store: Store,
  secrets: ExportSecrets,
  id: string,
): Promise<'rotated' | 'current' | 'unreadable' | 'deleted'> {
  for (let attempt = 0; attempt < EXPORT_WRITE_ATTEMPTS; attempt++) {
    const stored = await store.exports.getStored(id);
    if (stored === null) return 'deleted';
    const exp = JSON.parse(stored) as BatchExport;
    if (secrets.stale(exp).length === 0) return 'current';
    const opened = secrets.open(exp);
    try {
      secrets.requireOpen(opened);
    } catch {
      return 'unreadable';
    }
    if (await store.exports.replaceStored(id, stored, opened)) return 'rotated';
  }
  throw concurrentWriters(id);
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).then((code) => process.exit(code));
}

/**
 * The demo's SECRETS_ENCRYPTION_KEYS: the one given, else the key an earlier
 * demo kept beside the services' data (BX_SERVICES_DIR), else a new one kept
 * there (mode 0600). The exports a demo stored in Redis stay readable by the
 * next demo: with a new key each time, the reconciler's re-exports of the
 * earlier demo's exports failed (SecretUnreadable) all through the next run.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEMO_KEY_FILE = 'demo-secrets-key';

export function demoSecretsKey(env: NodeJS.ProcessEnv, servicesDir: string | undefined): string {
  if (env.SECRETS_ENCRYPTION_KEYS) return env.SECRETS_ENCRYPTION_KEYS;
  const key = randomBytes(32).toString('base64');
  if (!servicesDir) return key;
  const file = join(servicesDir, DEMO_KEY_FILE);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(servicesDir, { recursive: true });
  writeFileSync(file, key + '\n', { mode: 0o600 });
  return key;
}

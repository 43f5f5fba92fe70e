import { PermanentError } from './errors';
import type { BatchExport } from './export-model';
import { SecretBox } from './secret-box';

type Config = Record<string, unknown>;

/**
 * Seals a destination's secret fields before an export is stored and opens
 * them when it is read (contract: SECRETS_ENCRYPTION_KEYS). Which fields are
 * secret is the destination plug-in's say (`secretFields`).
 *
 * Without a SecretBox (ALLOW_PLAINTEXT_SECRETS) values are stored as given.
 * A sealed value this process cannot open (no key, or not the right one) is
 * left sealed on read, so roles that never use secrets (the scheduler) go
 * on; where a secret is needed, `requireOpen` turns it into an error that
 * names the variable. Sealed values pass through `seal` unchanged.
 */
export class ExportSecrets {
  constructor(
    readonly box: SecretBox | null,
    private readonly secretFieldsOf: (type: string) => readonly string[],
  ) {}

  seal(exp: BatchExport): BatchExport {
    const box = this.box;
    if (!box) return exp;
    return this.map(exp, (value, context) => (SecretBox.isSealed(value) ? value : box.seal(value, context)));
  }

  open(exp: BatchExport): BatchExport {
    const box = this.box;
    if (!box) return exp;
    return this.map(exp, (value, context) => {
      if (!SecretBox.isSealed(value)) return value;
      try {
        return box.open(value, context);
      } catch {
        return value;
      }
    });
  }

  /** Secret fields of the export that are stored sealed, or not sealed with the first key (rotate-secrets). */
  stale(exp: BatchExport): string[] {
    const config = exp.destination.config as Config;
    return this.secretFieldsOf(exp.destination.type).filter((field) => {
      const value = config[field];
      if (typeof value !== 'string') return false;
      return !this.box || SecretBox.keyIdOf(value) !== this.box.sealingKeyId;
    });
  }

  /** Throws when a secret of the export is still sealed: this process could not open it. */
  requireOpen(exp: BatchExport): void {
    const config = exp.destination.config as Config;
    const sealed = this.secretFieldsOf(exp.destination.type).filter((field) => SecretBox.isSealed(config[field]));
    if (sealed.length === 0) return;
    throw new PermanentError(
      `the export's ${sealed.join(', ')} ${sealed.length > 1 ? 'are' : 'is'} encrypted with a key ` +
        'that is not in SECRETS_ENCRYPTION_KEYS of this process',
      { code: 'SecretUnreadable' },
    );
  }

  private map(exp: BatchExport, fn: (value: string, context: string) => string): BatchExport {
    const config = { ...(exp.destination.config as Config) };
    let changed = false;
    for (const field of this.secretFieldsOf(exp.destination.type)) {
      const value = config[field];
      if (typeof value !== 'string') continue;
      const next = fn(value, `export:${exp.id}:${field}`);
      changed ||= next !== value;
      config[field] = next;
    }
    return changed ? ({ ...exp, destination: { ...exp.destination, config } } as BatchExport) : exp;
  }
}

/**
 * The ExportSecrets of a process, from SECRETS_ENCRYPTION_KEYS; without keys
 * (ALLOW_PLAINTEXT_SECRETS) it warns that secrets are stored in clear.
 */
export function exportSecretsFromConfig(
  config: { SECRETS_ENCRYPTION_KEYS?: SecretBox },
  secretFieldsOf: (type: string) => readonly string[],
  logger: { warn(msg: string, fields?: Record<string, unknown>): void },
): ExportSecrets {
  if (!config.SECRETS_ENCRYPTION_KEYS) {
    logger.warn(
      'ALLOW_PLAINTEXT_SECRETS=true: destination secrets are stored in clear in Redis; set SECRETS_ENCRYPTION_KEYS in production',
    );
  }
  return new ExportSecrets(config.SECRETS_ENCRYPTION_KEYS ?? null, secretFieldsOf);
}

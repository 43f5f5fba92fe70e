import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { PermanentError } from './errors';

/** What a sealed value starts with: `bxenc:v1:<key id>:<iv>:<ciphertext and tag>` (base64url). */
const SEALED = /^bxenc:v1:([0-9a-f]{16}):([A-Za-z0-9_-]{16}):([A-Za-z0-9_-]{22,})$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

interface Key {
  id: string;
  bytes: Buffer;
}

/**
 * AES-256-GCM over secret config values, with key rotation: the first key
 * seals, every key opens (contract: SECRETS_ENCRYPTION_KEYS). Each value is
 * bound to where it is stored (`context`: the export and the field), so a
 * sealed value copied into another export or field does not open. A key is
 * named in the value by the first 8 bytes of its SHA-256, so opening tries
 * the right key first and the keys themselves never appear.
 */
export class SecretBox {
  // An ES private field: JSON.stringify and util.inspect of the config never show the keys.
  readonly #keys: readonly Key[];

  constructor(keys: readonly Buffer[]) {
    if (keys.length === 0) throw new Error('at least one key is needed');
    this.#keys = keys.map((bytes) => ({ id: createHash('sha256').update(bytes).digest('hex').slice(0, 16), bytes }));
  }

  /** Parses SECRETS_ENCRYPTION_KEYS: comma-separated base64 (or base64url) keys of 32 bytes. */
  static parse(value: string): SecretBox {
    const keys = value
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean)
      .map((encoded, i) => {
        const bytes = Buffer.from(encoded, 'base64');
        if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded) || bytes.length !== 32) {
          throw new Error(`key ${i + 1} is not 32 bytes of base64 (make one with: openssl rand -base64 32)`);
        }
        return bytes;
      });
    if (keys.length === 0) throw new Error('no key given');
    return new SecretBox(keys);
  }

  /** Id of the key that seals. */
  get sealingKeyId(): string {
    return this.#keys[0]!.id;
  }

  static isSealed(value: unknown): value is string {
    return typeof value === 'string' && SEALED.test(value);
  }

  /** Key id of a sealed value, or null. */
  static keyIdOf(value: unknown): string | null {
    return typeof value === 'string' ? (SEALED.exec(value)?.[1] ?? null) : null;
  }

  seal(plaintext: string, context: string): string {
    const key = this.#keys[0]!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.bytes, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context));
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `bxenc:v1:${key.id}:${iv.toString('base64url')}:${sealed.toString('base64url')}`;
  }

  /** The plaintext of a sealed value; a PermanentError when no key opens it. */
  open(value: string, context: string): string {
    const match = SEALED.exec(value);
    if (!match) throw new PermanentError('not a sealed secret', { code: 'SecretUnreadable' });
    const [, id, iv, body] = match as unknown as [string, string, string, string];
    const data = Buffer.from(body, 'base64url');
    const ordered = [...this.#keys.filter((k) => k.id === id), ...this.#keys.filter((k) => k.id !== id)];
    for (const key of ordered) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key.bytes, Buffer.from(iv, 'base64url'), {
          authTagLength: TAG_BYTES,
        });
        decipher.setAAD(Buffer.from(context));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        return Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]).toString(
          'utf8',
        );
      } catch {
        // Another key, or a value that was tampered with.
      }
    }
    throw new PermanentError(
      `a stored secret (${context}) opens with none of SECRETS_ENCRYPTION_KEYS (sealed with key ${id})`,
      { code: 'SecretUnreadable' },
    );
  }
}

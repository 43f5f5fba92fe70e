import {
  DESTINATION_NOT_ALLOWED,
  PermanentError,
  SecretBox,
  ValidationError,
  type DestinationConfig,
  type NetworkPolicy,
} from '@bx/core';
import { checkEndpoints, connectionFields, secretFieldsOf } from '@bx/destinations';

/**
 * A PATCH that changes where a destination connects or who it logs in as
 * (the plug-in's connectionFields) must carry the secrets again: merging the
 * stored ones would let a token holder point an export at a listener of
 * their own and have /test send it the password, the SigV4 signature or a
 * signed JWT. Every secret the stored config has must be in the patch (a
 * value, or null to drop it); otherwise 400 `secrets_required`.
 */
export function requireSecretsOnMove(
  current: DestinationConfig,
  next: DestinationConfig,
  patchConfig: Record<string, unknown>,
): void {
  if (next.type !== current.type) return; // a new type is never merged with the stored secrets
  const moved = connectionFields(current.type).filter(
    (field) => JSON.stringify(next.config[field] ?? null) !== JSON.stringify(current.config[field] ?? null),
  );
  if (moved.length === 0) return;
  const missing = secretFieldsOf(current.type).filter(
    (field) => current.config[field] != null && !Object.hasOwn(patchConfig, field),
  );
  if (missing.length === 0) return;
  const because = `changing ${moved.join(', ')} needs the destination's secrets again`;
  throw new ValidationError(
    `Invalid body: ${because}: ${missing.map((f) => `destination.config.${f}`).join(', ')}`,
    missing.map((field) => ({ field: `destination.config.${field}`, message: `required: ${because}` })),
    'secrets_required',
  );
}

/**
 * Refuses a secret given in the form the store keeps it in (`bxenc:v1:...`,
 * SECRETS_ENCRYPTION_KEYS): the store keeps such a value as it is and the
 * export opens it, so a copy of Redis (a backup, which alone reveals no
 * secret) and the token moved an export's password elsewhere: PATCH a new
 * `access_url` with the export's own sealed password as "the password
 * again", then /test sent it there in clear. No response ever shows a
 * sealed value; `config` is the input's, never the merged one (a stored
 * value this process cannot open stays sealed there).
 */
export function refuseSealedSecrets(type: string, config: Record<string, unknown>): void {
  const sealed = secretFieldsOf(type).filter((field) => SecretBox.isSealed(config[field]));
  if (sealed.length === 0) return;
  const message = 'must be the secret itself, not a stored (encrypted) value';
  const details = sealed.map((field) => ({ field: `destination.config.${field}`, message }));
  throw new ValidationError(`Invalid body: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`, details);
}

/**
 * Refuses a destination that connects to a loopback, private or link-local
 * address ALLOWED_PRIVATE_DESTINATIONS does not list (after DNS resolution):
 * 400 `destination_not_allowed`, naming the config field that points there.
 */
export async function checkDestinationNetwork(destination: DestinationConfig, network: NetworkPolicy): Promise<void> {
  try {
    await checkEndpoints(destination, network);
  } catch (err) {
    if (!(err instanceof PermanentError && err.code === DESTINATION_NOT_ALLOWED)) throw err;
    const fields = connectionFields(destination.type).filter((f) => destination.config[f] != null);
    const field = `destination.config.${fields[0] ?? 'endpoint'}`;
    throw new ValidationError(
      `Invalid body: ${field}: ${err.message}`,
      [{ field, message: err.message }],
      'destination_not_allowed',
    );
  }
}

// Login verification: password users and key-pair (SNOWFLAKE_JWT) users. The JWT check mirrors
// what Snowflake does: RS256 signature by one of the user's registered public keys, selected by
// the SHA256 fingerprint in `iss`, plus iss/sub naming ACCOUNT.USER and an unexpired `exp`.
import crypto from 'node:crypto';

export interface AuthConfig {
  users: Record<string, string>; // login name -> password
  publicKeys: Record<string, string | string[]>; // login name -> PEM public key(s)
  account?: string; // when set, JWT claims must name this account (else the login's ACCOUNT_NAME)
}

export interface AuthFailure {
  code: string;
  message: string;
}

export const BAD_PASSWORD: AuthFailure = {
  code: '390100',
  message: 'Incorrect username or password was specified.',
};
// What Snowflake answers for a JWT that does not verify.
export const BAD_JWT: AuthFailure = { code: '390144', message: 'JWT token is invalid.' };

// Login names are case-insensitive in Snowflake.
const lookup = <T>(m: Record<string, T>, user: string): T | undefined =>
  Object.entries(m).find(([k]) => k.toUpperCase() === user.toUpperCase())?.[1];

export function fingerprint(publicKeyPem: string): string {
  const der = crypto.createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return 'SHA256:' + crypto.createHash('sha256').update(der).digest('base64');
}

const b64url = (s: string) => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');

// Returns a reason string when the token is rejected, undefined when accepted.
export function verifyJwt(token: string, account: string, user: string, pems: string[]): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return 'malformed token';
  let header: { alg?: string };
  let claims: { iss?: string; sub?: string; exp?: number; iat?: number };
  try {
    header = JSON.parse(b64url(parts[0]!).toString('utf8'));
    claims = JSON.parse(b64url(parts[1]!).toString('utf8'));
  } catch {
    return 'undecodable token';
  }
  if (header.alg !== 'RS256') return `unsupported alg ${header.alg}`;
  const sub = `${account.toUpperCase()}.${user.toUpperCase()}`;
  if (claims.sub !== sub) return `sub ${claims.sub} != ${sub}`;
  // snowflake-sdk 3.x puts milliseconds in iat/exp; accept both seconds and milliseconds.
  const expMs = (claims.exp ?? 0) > 1e11 ? claims.exp! : (claims.exp ?? 0) * 1000;
  if (expMs < Date.now()) return 'token expired';
  const key = pems.find((pem) => claims.iss === `${sub}.${fingerprint(pem)}`);
  if (!key) return `no registered public key matches iss ${claims.iss}`;
  const ok = crypto.verify(
    'sha256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    crypto.createPublicKey(key),
    b64url(parts[2]!),
  );
  return ok ? undefined : 'bad signature';
}

export function authenticate(cfg: AuthConfig, data: Record<string, unknown>): AuthFailure | undefined {
  const user = String(data.LOGIN_NAME ?? '');
  const authenticator = String(data.AUTHENTICATOR ?? 'SNOWFLAKE').toUpperCase();
  if (authenticator === 'SNOWFLAKE') {
    const pw = lookup(cfg.users, user);
    return pw !== undefined && pw === data.PASSWORD ? undefined : BAD_PASSWORD;
  }
  if (authenticator === 'SNOWFLAKE_JWT') {
    const keys = lookup(cfg.publicKeys, user);
    const pems = keys === undefined ? [] : Array.isArray(keys) ? keys : [keys];
    const account = cfg.account ?? String(data.ACCOUNT_NAME ?? '');
    const why = verifyJwt(String(data.TOKEN ?? ''), account, user, pems);
    return why ? { ...BAD_JWT, message: `${BAD_JWT.message} (${why})` } : undefined;
  }
  return {
    code: '390100',
    message: `Authenticator ${authenticator} is not supported by the snowflake test bed.`,
  };
}

import type { NextFunction, Request, Response } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthFailureLimiter } from './auth-failures';

/**
 * Requires `Authorization: Bearer <token>`; compares in constant time. A
 * client that sent too many wrong tokens gets 429 until its window ends,
 * whatever it sends, so a right guess cannot be told from a wrong one.
 */
export function bearerAuth(token: string, limiter: AuthFailureLimiter) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (limiter.refuse(req, res)) return;
    const given = bearerToken(req);
    if (given !== null && tokenMatches(given, token)) return next();
    if (given !== null) limiter.failed(req);
    sendUnauthorized(res, given !== null ? 'invalid API token' : 'missing Authorization: Bearer <token> header');
  };
}

/** The token of an `Authorization: Bearer` header, or null without one. */
export function bearerToken(req: Request): string | null {
  const match = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '');
  return match ? match[1]!.trim() : null;
}

/**
 * Constant-time comparison, so response times do not reveal how much of a
 * guess was right, nor (digests of equal length) how long the token is.
 */
export function tokenMatches(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export function sendUnauthorized(res: Response, message: string): void {
  res
    .status(401)
    .set('WWW-Authenticate', 'Bearer')
    .json({ error: { code: 'unauthorized', message, details: [] } });
}

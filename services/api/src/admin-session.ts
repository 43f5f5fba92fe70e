import type { NextFunction, Request, Response } from 'express';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { bearerToken, sendUnauthorized, tokenMatches } from './auth';

/** Name of the browser session cookie of /admin pages. */
export const SESSION_COOKIE = 'bx_admin_session';
/** How long a session login lasts, in seconds (12 hours). */
export const SESSION_TTL_SECONDS = 12 * 3600;

/**
 * Session cookies for the admin pages (Bull Board), so a browser can use them
 * without sending a header. The value is `<expiry>.<HMAC-SHA256 keyed with the
 * admin token over the expiry>`: it proves the holder knew the token without
 * containing it, every API process can check it without shared state, it ends
 * by itself, and changing ADMIN_API_TOKEN ends every session.
 */
export class AdminSessions {
  constructor(
    private readonly token: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /** A new cookie value, valid for SESSION_TTL_SECONDS. */
  issue(): string {
    const expires = Math.floor(this.clock() / 1000) + SESSION_TTL_SECONDS;
    return `${expires}.${this.mac(expires)}`;
  }

  verify(value: string | undefined): boolean {
    const match = /^(\d{1,12})\.([0-9a-f]{64})$/.exec(value ?? '');
    if (!match) return false;
    const expires = Number(match[1]);
    if (expires * 1000 <= this.clock()) return false;
    return timingSafeEqual(Buffer.from(match[2]!, 'hex'), Buffer.from(this.mac(expires), 'hex'));
  }

  /** `Set-Cookie` options: unreadable by scripts, never sent by other sites, only to /admin. */
  cookieOptions(req: Request) {
    return {
      httpOnly: true,
      sameSite: 'strict' as const,
      secure: req.secure,
      path: '/admin',
      maxAge: SESSION_TTL_SECONDS * 1000,
    };
  }

  /**
   * Lets a request through with the bearer token or a valid session cookie.
   * A wrong bearer token is 401; with no credentials a browser asking for a
   * page is sent to the login form, anything else gets 401.
   */
  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      const bearer = bearerToken(req);
      if (bearer !== null) {
        if (tokenMatches(bearer, this.token)) return next();
        return sendUnauthorized(res, 'invalid API token');
      }
      if (this.verify(readCookie(req, SESSION_COOKIE))) return next();
      if (req.method === 'GET' && req.accepts(['json', 'html']) === 'html') {
        return res.redirect(303, `/admin/login?next=${encodeURIComponent(req.originalUrl)}`);
      }
      sendUnauthorized(res, 'missing Authorization: Bearer <token> header or admin session cookie');
    };
  }

  private mac(expires: number): string {
    return createHmac('sha256', this.token).update(`bx-admin-session:${expires}`).digest('hex');
  }
}

/** One cookie's value from the Cookie header (no cookie-parser needed for one cookie). */
export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

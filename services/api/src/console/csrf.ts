import type { NextFunction, Request, Response } from 'express';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SESSION_COOKIE, readCookie } from '../admin-session';
import { bearerToken } from '../auth';

/** Form field and header that carry the token. */
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/**
 * The CSRF token of the request's session, for its page's forms; '' for
 * bearer-token requests. It is `res.locals.csrfToken`, where the admin
 * session middleware of the hardened API leaves it too.
 */
export function csrfToken(res: Response): string {
  const token = (res.locals as { csrfToken?: unknown }).csrfToken;
  return typeof token === 'string' ? token : '';
}

/**
 * The console's CSRF protection, kept behind this small interface so that the
 * admin session's own per-session token can replace it in one place.
 *
 * The token is an HMAC of the session cookie keyed with the admin token: it is
 * per session, needs no storage, and a page of another site can neither read
 * it nor derive it (the cookie is HttpOnly). Requests authenticated with the
 * bearer token carry no ambient credential, so they need none. Every change is
 * also refused when the browser says it comes from another origin.
 */
export class ConsoleCsrf {
  constructor(private readonly adminToken: string) {}

  /** The token a page embeds in its forms; '' for bearer-token requests. */
  tokenFor(req: Request): string {
    const session = readCookie(req, SESSION_COOKIE);
    if (!session) return '';
    return createHmac('sha256', this.adminToken).update(`bx-console-csrf:${session}`).digest('base64url');
  }

  /**
   * Leaves the session's token in `res.locals.csrfToken`, and refuses (403) a
   * non-GET request of a browser session without it, or from another origin.
   */
  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      res.locals.csrfToken = this.tokenFor(req);
      if (req.method === 'GET' || req.method === 'HEAD') return next();
      if (!sameOrigin(req)) return forbidden(res, 'cross-origin request refused');
      // The session middleware already checked a bearer token; a page of another site cannot send one.
      if (bearerToken(req) !== null) return next();
      const expected = csrfToken(res);
      const body = req.body as Record<string, unknown> | undefined;
      const given = req.get(CSRF_HEADER) ?? (typeof body?.[CSRF_FIELD] === 'string' ? body[CSRF_FIELD] : '');
      if (expected && equal(given, expected)) return next();
      forbidden(res, 'missing or wrong CSRF token; reload the page and try again');
    };
  }
}

/** An Origin header, when the browser sends one, must be this server's. */
function sameOrigin(req: Request): boolean {
  const origin = req.get('origin');
  if (!origin) return true;
  try {
    return new URL(origin).host === req.get('host');
  } catch {
    return false;
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function forbidden(res: Response, message: string): void {
  res.status(403).json({ error: { code: 'forbidden', message, details: [] } });
}

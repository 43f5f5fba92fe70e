import type { AdminSessionRecord } from '@bx/store';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { bearerToken, sendUnauthorized, tokenMatches } from './auth';
import type { AuthFailureLimiter } from './auth-failures';

/** Name of the browser session cookie of /admin pages. */
export const SESSION_COOKIE = 'bx_admin_session';
/** How long a session login lasts, in seconds (12 hours). */
export const SESSION_TTL_SECONDS = 12 * 3600;
/** Form field, or request header, that carries a session's CSRF token. */
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** Where sessions live (the store's SessionRepository; a Map in unit tests). */
export interface SessionStore {
  create(idHash: string, record: AdminSessionRecord, ttlSeconds: number): Promise<void>;
  get(idHash: string): Promise<AdminSessionRecord | null>;
  delete(idHash: string): Promise<void>;
}

/**
 * What the session check leaves in `res.locals` for the pages after it:
 * `adminAuth` says how the request was let in, and `csrfToken` is the token a
 * page's forms must send back as the `_csrf` field (or `X-CSRF-Token`
 * header); it is empty for bearer-token requests, which need none.
 */
export interface AdminLocals {
  adminAuth: 'bearer' | 'session';
  csrfToken: string;
}

/** The console's edit form of an export (its POST's path). */
const EDIT_FORM = /^\/admin\/exports\/[0-9a-f-]{36}\/edit$/;

const UNSAFE = (method: string) => !['GET', 'HEAD', 'OPTIONS'].includes(method);

/**
 * Browser sessions of the admin pages (Bull Board, the web console), kept
 * server-side: the cookie holds a random 256-bit id, Redis holds the session
 * under the id's SHA-256 with a 12-hour expiry. Logout deletes it, so a cookie
 * saved before logout stops working; every login gets a new id; a session
 * opened with another ADMIN_API_TOKEN is refused.
 */
export class AdminSessions {
  private readonly tokenMac: string;

  constructor(
    private readonly token: string,
    private readonly store: SessionStore,
    private readonly limiter: AuthFailureLimiter,
    private readonly clock: () => number = Date.now,
  ) {
    this.tokenMac = createHmac('sha256', token).update('bx-admin-session').digest('hex');
  }

  /** Opens a session; returns the cookie value. */
  async issue(): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    const record: AdminSessionRecord = {
      csrf: randomBytes(32).toString('base64url'),
      token_mac: this.tokenMac,
      expires_at: this.clock() + SESSION_TTL_SECONDS * 1000,
    };
    await this.store.create(hashOf(id), record, SESSION_TTL_SECONDS);
    return id;
  }

  /** The session a cookie value opens, or null. */
  async verify(value: string | undefined): Promise<AdminSessionRecord | null> {
    if (!value || !/^[A-Za-z0-9_-]{43}$/.test(value)) return null;
    const record = await this.store.get(hashOf(value));
    if (!record || record.expires_at <= this.clock()) return null;
    return tokenMatches(record.token_mac, this.tokenMac) ? record : null;
  }

  /** Ends the session of a cookie value, if any. */
  async revoke(value: string | undefined): Promise<void> {
    if (value && /^[A-Za-z0-9_-]{43}$/.test(value)) await this.store.delete(hashOf(value));
  }

  /** `Set-Cookie` options: unreadable by scripts, never sent by other sites, only to /admin, Secure over HTTPS. */
  cookieOptions(req: Request) {
    return {
      httpOnly: true,
      sameSite: 'strict' as const,
      // req.secure believes X-Forwarded-Proto only from proxies TRUST_PROXY names.
      secure: req.secure,
      path: '/admin',
      maxAge: SESSION_TTL_SECONDS * 1000,
    };
  }

  /**
   * Lets a request through with the bearer token or a valid session cookie.
   * A wrong bearer token is 401 (and counts towards the client's limit); with
   * no credentials a browser asking for a page is sent to the login form,
   * anything else gets 401. A cookie-authenticated change (POST, PUT, PATCH,
   * DELETE) coming from another site is 403: SameSite=Strict already keeps
   * the cookie from cross-site requests, this also holds for sibling sites
   * and old browsers.
   */
  middleware(): RequestHandler {
    return (req: Request, res: Response, next: NextFunction): void => {
      if (this.limiter.refuse(req, res)) return;
      const bearer = bearerToken(req);
      if (bearer !== null) {
        if (!tokenMatches(bearer, this.token)) {
          this.limiter.failed(req);
          return sendUnauthorized(res, 'invalid API token');
        }
        Object.assign(res.locals, { adminAuth: 'bearer', csrfToken: '' } satisfies AdminLocals);
        return next();
      }
      this.verify(readCookie(req, SESSION_COOKIE)).then((session) => {
        if (session) {
          if (UNSAFE(req.method) && crossSite(req)) return sendForbidden(res, 'cross_site', CROSS_SITE);
          Object.assign(res.locals, { adminAuth: 'session', csrfToken: session.csrf } satisfies AdminLocals);
          return next();
        }
        if (req.method !== 'HEAD' && req.accepts(['json', 'html']) === 'html') {
          // A form posted after the session ended comes back to the page it was on, once logged in.
          let next = req.method === 'GET' ? req.originalUrl : (refererPath(req) ?? '/admin/exports');
          // "The change was not made": only for a change; a page opened with an old cookie just logs in.
          const ended = UNSAFE(req.method) && readCookie(req, SESSION_COOKIE) !== undefined ? '&ended=1' : '';
          // An edit form comes back saying its edits were not saved (console.js puts them back in).
          const target = req.originalUrl.split('?')[0]!;
          if (ended && EDIT_FORM.test(target)) next = `${target}?notice=not-saved`;
          return res.redirect(303, `/admin/login?next=${encodeURIComponent(next)}${ended}`);
        }
        sendUnauthorized(res, 'missing Authorization: Bearer <token> header or admin session cookie');
      }, next);
    };
  }

  /**
   * After middleware(): refuses a session's POST, PUT, PATCH or DELETE that
   * does not carry the session's CSRF token (form field `_csrf` or header
   * `X-CSRF-Token`) with 403 `csrf_failed`. Parses a urlencoded form body
   * itself (a later parser leaves it be). Bearer-token requests pass.
   */
  csrf(): RequestHandler[] {
    return [
      express.urlencoded({ extended: false, limit: '64kb' }),
      (req: Request, res: Response, next: NextFunction): void => {
        const locals = res.locals as Partial<AdminLocals>;
        if (!UNSAFE(req.method) || locals.adminAuth === 'bearer') return next();
        if (locals.adminAuth === 'session' && csrfMatches(req, locals.csrfToken!)) return next();
        // A browser's form (a page loaded before logging in again): the pages' error handler says it as a page.
        if (req.accepts(['json', 'html']) === 'html') return next(new CsrfRefusedError());
        sendForbidden(res, 'csrf_failed', CSRF_FAILED);
      },
    ];
  }
}

export const CSRF_FAILED = 'missing or wrong CSRF token; reload the page and try again';

/** A browser form's change refused for its CSRF token (403 `csrf_failed`), for a page to explain. */
export class CsrfRefusedError extends Error {
  readonly code = 'csrf_failed';
  constructor() {
    super(CSRF_FAILED);
    this.name = 'CsrfRefusedError';
  }
}

/** The path and query of the admin page a request came from (same host only; without its notice), or null. */
export function refererPath(req: Request): string | null {
  const referer = req.get('referer');
  if (!referer) return null;
  try {
    const url = new URL(referer);
    if (url.host !== req.host || !url.pathname.startsWith('/admin/')) return null;
    // A notice (`?notice=paused`) told of the change that page had made: not to be shown again.
    url.searchParams.delete('notice');
    return `${url.pathname}${url.search}`;
  } catch {
    return null;
  }
}

/** Whether the request carries `expected` as its `_csrf` form field or X-CSRF-Token header. */
export function csrfMatches(req: Request, expected: string): boolean {
  const body = req.body as Record<string, unknown> | undefined;
  const sent = req.get(CSRF_HEADER) ?? body?.[CSRF_FIELD];
  return typeof sent === 'string' && expected !== '' && tokenMatches(sent, expected);
}

const CROSS_SITE = 'a change to the admin pages must come from the admin pages themselves, not another site';

/** Whether the browser says the request comes from another site (Sec-Fetch-Site, else Origin). */
export function crossSite(req: Request): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = req.get('origin');
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.host;
  } catch {
    // `Origin: null` (sandboxed frames, some redirects) and garbage.
    return true;
  }
}

export function sendForbidden(res: Response, code: string, message: string): void {
  res.status(403).json({ error: { code, message, details: [] } });
}

function hashOf(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** One cookie's value from the Cookie header (no cookie-parser needed for one cookie). */
export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

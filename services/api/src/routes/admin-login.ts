import express, { Router, type Response } from 'express';
import {
  CSRF_FAILED,
  SESSION_COOKIE,
  SESSION_TTL_SECONDS,
  crossSite,
  csrfMatches,
  readCookie,
  sendForbidden,
  type AdminSessions,
} from '../admin-session';
import { sendUnauthorized, tokenMatches } from '../auth';
import type { AuthFailureLimiter } from '../auth-failures';

/** Where a login may send the browser afterwards: admin pages only, never another site. */
const SAFE_NEXT = /^\/admin\/(?:queues|exports)(?:[/?#][^\\]*)?$/;
const DEFAULT_NEXT = '/admin/exports';

/**
 * GET /admin/login shows a form; POST /admin/login with the admin token opens
 * a session, sets its cookie and goes on to the console (or Bull Board) (a
 * wrong token is a 401 page and counts towards the client's limit);
 * POST /admin/logout, with the session's CSRF token, ends the session on the
 * server and clears the cookie. Both refuse a form posted from another site (403).
 */
export function adminLoginRouter(token: string, sessions: AdminSessions, limiter: AuthFailureLimiter): Router {
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '4kb' });

  router.get('/login', (req, res) => {
    page(res, 200, nextOf(req.query.next), undefined, req.query.ended === '1' ? SESSION_ENDED : undefined);
  });
  router.post('/login', async (req, res) => {
    if (crossSite(req)) return sendForbidden(res, 'cross_site', 'log in from the login page of this server');
    if (limiter.refuse(req, res)) return;
    await new Promise<void>((resolve, reject) => form(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
    // Again now that the body is in: guesses sent at once all passed the check above while
    // their bodies were on the way (40 of 40 checked); from here to `failed` nothing waits.
    if (limiter.refuse(req, res)) return;
    const body = (req.body ?? {}) as { token?: unknown; next?: unknown };
    const target = nextOf(body.next);
    if (typeof body.token !== 'string' || !tokenMatches(body.token.trim(), token)) {
      limiter.failed(req);
      return page(res, 401, target, 'That token is not the admin API token.');
    }
    res.cookie(SESSION_COOKIE, await sessions.issue(), sessions.cookieOptions(req)).redirect(303, target);
  });
  router.post('/logout', async (req, res) => {
    if (crossSite(req)) return sendForbidden(res, 'cross_site', 'log out from the admin pages of this server');
    const cookie = readCookie(req, SESSION_COOKIE);
    const session = await sessions.verify(cookie);
    if (session) {
      await new Promise<void>((resolve, reject) => form(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
      if (!csrfMatches(req, session.csrf)) return sendForbidden(res, 'csrf_failed', CSRF_FAILED);
      await sessions.revoke(cookie);
    }
    const { maxAge: _maxAge, ...options } = sessions.cookieOptions(req);
    res.clearCookie(SESSION_COOKIE, options).redirect(303, '/admin/login');
  });
  /** The caller's session, for pages that post with fetch(): `{csrf_token, expires_at}`; 401 without one. */
  router.get('/session', async (req, res) => {
    const session = await sessions.verify(readCookie(req, SESSION_COOKIE));
    if (!session) return sendUnauthorized(res, 'no admin session; log in at /admin/login');
    res
      .set('Cache-Control', 'no-store')
      .json({ csrf_token: session.csrf, expires_at: new Date(session.expires_at).toISOString() });
  });
  return router;
}

function nextOf(value: unknown): string {
  return typeof value === 'string' && SAFE_NEXT.test(value) ? value : DEFAULT_NEXT;
}

/** Why the login form is shown again (`?ended=1`: a page or form came with a session that has ended). */
const SESSION_ENDED =
  `Your session has ended (it lasts ${SESSION_TTL_SECONDS / 3600} hours; logging out ends it). Log in again; ` +
  'a change sent after it ended was not made.';

function page(res: Response, status: number, next: string, error?: string, notice?: string): void {
  res
    .status(status)
    .set('Content-Type', 'text/html; charset=utf-8')
    .set('Cache-Control', 'no-store')
    .set(
      'Content-Security-Policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ).send(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>batch-exports admin login</title>
<style>body{font-family:sans-serif;max-width:24rem;margin:4rem auto}input{width:100%;margin:.5rem 0;padding:.4rem}
.error{color:#b00020}</style></head>
<body>
<h1>Admin login</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}${notice ? `<p role="status">${escapeHtml(notice)}</p>` : ''}
<form method="post" action="/admin/login">
<label for="token">Admin API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="${escapeHtml(next)}">
<button type="submit">Log in</button>
</form>
</body>
</html>
`);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

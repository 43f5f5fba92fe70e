import express, { Router, type Response } from 'express';
import { SESSION_COOKIE, type AdminSessions } from '../admin-session';
import { tokenMatches } from '../auth';

/** Where a login may send the browser afterwards: admin pages only, never another site. */
const SAFE_NEXT = /^\/admin\/(?:queues|exports)(?:[/?#][^\\]*)?$/;
const DEFAULT_NEXT = '/admin/exports';

/**
 * GET /admin/login shows a form; POST /admin/login with the admin token sets
 * the session cookie and goes on to the console (or Bull Board) (a wrong token is a 401 page);
 * POST /admin/logout ends the session.
 */
export function adminLoginRouter(token: string, sessions: AdminSessions): Router {
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '4kb' });

  router.get('/login', (req, res) => {
    page(res, 200, nextOf(req.query.next));
  });
  router.post('/login', form, (req, res) => {
    const body = (req.body ?? {}) as { token?: unknown; next?: unknown };
    const next = nextOf(body.next);
    if (typeof body.token !== 'string' || !tokenMatches(body.token.trim(), token)) {
      return page(res, 401, next, 'That token is not the admin API token.');
    }
    res.cookie(SESSION_COOKIE, sessions.issue(), sessions.cookieOptions(req)).redirect(303, next);
  });
  router.post('/logout', (req, res) => {
    const { maxAge: _maxAge, ...options } = sessions.cookieOptions(req);
    res.clearCookie(SESSION_COOKIE, options).redirect(303, '/admin/login');
  });
  return router;
}

function nextOf(value: unknown): string {
  return typeof value === 'string' && SAFE_NEXT.test(value) ? value : DEFAULT_NEXT;
}

function page(res: Response, status: number, next: string, error?: string): void {
  res
    .status(status)
    .set('Content-Type', 'text/html; charset=utf-8')
    .set('Cache-Control', 'no-store')
    .set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    .send(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>batch-exports admin login</title>
<style>body{font-family:sans-serif;max-width:24rem;margin:4rem auto}input{width:100%;margin:.5rem 0;padding:.4rem}
.error{color:#b00020}</style></head>
<body>
<h1>Admin login</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
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

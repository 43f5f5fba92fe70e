import type { Response } from 'express';

/** Form field and header that carry the token (AdminSessions checks them). */
export { CSRF_FIELD, CSRF_HEADER } from '../admin-session';

/**
 * The CSRF token of the request's admin session, for its page's forms; ''
 * for bearer-token requests, which need none. AdminSessions.middleware()
 * leaves it in `res.locals.csrfToken`; AdminSessions.csrf() checks it on
 * every change.
 */
export function csrfToken(res: Response): string {
  const token = (res.locals as { csrfToken?: unknown }).csrfToken;
  return typeof token === 'string' ? token : '';
}

import type { NextFunction, Request, Response } from 'express';
import { errorMessage, type Logger } from '@bx/core';
import { isRedisUnavailable } from '@bx/store';
import { refererPath } from '../admin-session';
import { REDIS_RETRY_AFTER_SECONDS } from '../error-handler';
import { actionError } from './errors';
import { html } from './html';
import { CONSOLE_PATH, sendPage } from './layout';
import { csrfToken } from './csrf';

/** Messages of `?notice=` after an action (a fixed set: nothing from the URL is shown). */
const NOTICES: Record<string, { kind: 'ok' | 'error'; text: string }> = {
  created: { kind: 'ok', text: 'Export created.' },
  saved: { kind: 'ok', text: 'Changes saved.' },
  // console.js adds that it put back what was typed, when it did.
  'not-saved': { kind: 'error', text: 'Your session had ended, so your edits were not saved. Save them again.' },
  paused: { kind: 'ok', text: 'Export paused.' },
  unpaused: { kind: 'ok', text: 'Export unpaused.' },
  retried: { kind: 'ok', text: 'Run queued again.' },
  cancelled: { kind: 'ok', text: 'Run cancelled.' },
  'retry-refused': { kind: 'error', text: 'That run is queued or running; retry it once it has finished.' },
  'cancel-refused': { kind: 'error', text: 'That run has already finished; only unfinished runs can be cancelled.' },
  'backfill-cancelled': { kind: 'ok', text: 'Backfill cancelled.' },
  'backfill-cancel-refused': { kind: 'error', text: 'That backfill has already finished; nothing to cancel.' },
};

export function noticeOf(req: Request): { kind: 'ok' | 'error'; text: string } | null {
  const code = typeof req.query.notice === 'string' ? req.query.notice : '';
  return NOTICES[code] ?? null;
}

export function wantsJson(req: Request): boolean {
  return req.accepts(['html', 'json']) === 'json';
}

/** A path under the console to come back to after an action, or `fallback`. */
export function returnPath(value: unknown, fallback: string): string {
  if (typeof value !== 'string') return fallback;
  try {
    const url = new URL(value, 'http://console.invalid');
    if (url.origin !== 'http://console.invalid' || !url.pathname.startsWith(`${CONSOLE_PATH}/`)) return fallback;
    const params = new URLSearchParams(url.search);
    params.delete('notice');
    const query = params.toString();
    return `${url.pathname}${query ? `?${query}` : ''}`;
  } catch {
    return fallback;
  }
}

/** `path` with `?notice=` (or `&notice=`) added. */
export function withNotice(path: string, notice: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}notice=${notice}`;
}

/**
 * A page of the console's that does not exist, opened in a browser: a page
 * saying so, with the way back, not the API's JSON. Other requests go on
 * (the API's 404 in JSON).
 */
export function consoleNotFound() {
  return (req: Request, res: Response, next: NextFunction): void => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || wantsJson(req)) return next();
    sendPage(res, 404, {
      title: 'Not found',
      csrf: csrfToken(res),
      notice: { kind: 'error', text: 'There is no console page at this address.' },
      body: html`<p><a href="${CONSOLE_PATH}">Back to the exports</a></p>`,
    });
  };
}

/** What a page says while Redis cannot be reached (the API's words, for people). */
export const STORE_DOWN = 'The store (Redis) is not reachable now, so this could not be done. Try again shortly.';

/**
 * Expected errors (unknown id, conflict, bad input, Redis down) as a page or
 * as the API's JSON; the rest goes on (500).
 */
export function consoleErrors(logger: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (!res.headersSent && isRedisUnavailable(err) && !wantsJson(req)) {
      logger.warn('console page failed: Redis unavailable', {
        method: req.method,
        path: req.path,
        err: errorMessage(err),
      });
      return storeDownPage(req, res);
    }
    const known = actionError(err);
    if (!known || res.headersSent) return next(err);
    if (wantsJson(req)) {
      res.status(known.status).json({ error: { code: known.code, message: known.message, details: known.details } });
      return;
    }
    // A refused form (403): back to the page it was on, which a reload gives a fresh token.
    const back = known.status === 403 ? refererPath(req) : null;
    sendPage(res, known.status, {
      title: known.status === 404 ? 'Not found' : 'That did not work',
      csrf: csrfToken(res),
      notice: { kind: 'error', text: known.message },
      body: html`${back ? html`<p><a href="${back}">Back to the page</a></p>` : null}
        <p><a href="${CONSOLE_PATH}">Back to the exports</a></p>`,
    });
  };
}

/** 503 while Redis is down, with Retry-After as the API sends it, and a way to try the page again. */
function storeDownPage(req: Request, res: Response): void {
  res.set('Retry-After', String(REDIS_RETRY_AFTER_SECONDS));
  const again = req.method === 'GET' ? req.originalUrl : refererPath(req);
  sendPage(res, 503, {
    title: 'Store unavailable',
    csrf: csrfToken(res),
    notice: { kind: 'error', text: STORE_DOWN },
    body: html`${again ? html`<p><a href="${again}">Try again</a></p>` : null}
      <p><a href="${CONSOLE_PATH}">Back to the exports</a></p>`,
  });
}

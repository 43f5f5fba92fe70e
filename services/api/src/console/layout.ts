import type { Response } from 'express';
import { BULL_BOARD_PATH } from '../bull-board';
import { CSRF_FIELD } from './csrf';
import { html, type Html } from './html';

/** Where the console's own CSS and JavaScript are served (no CDN). */
export const ASSETS_PATH = '/admin/console-assets';
export const CONSOLE_PATH = '/admin/exports';

/**
 * No inline script or style, nothing from another origin, no framing: a value
 * that escaped the escaping still could not run.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export interface PageOptions {
  title: string;
  /** The page's heading when it is more than its title as text (a name isolated in <bdi>). */
  heading?: Html;
  /** CSRF token for the forms of the page ('' with bearer-token requests). */
  csrf: string;
  /** Links above the title, e.g. the export a run belongs to. */
  trail?: Array<{ href: string; text: string }>;
  /** A message of the last action: shown once, announced to screen readers. */
  notice?: { kind: 'ok' | 'error'; text: string } | null;
  body: Html;
}

export function sendPage(res: Response, status: number, page: PageOptions): void {
  res
    .status(status)
    .set('Content-Type', 'text/html; charset=utf-8')
    .set('Cache-Control', 'no-store')
    .set('Content-Security-Policy', CONSOLE_CSP)
    .set('X-Content-Type-Options', 'nosniff')
    .set('Referrer-Policy', 'same-origin')
    .send(layout(page).text);
}

/** A hidden input with the CSRF token: every form of the console has one. */
export function csrfInput(csrf: string): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${csrf}" />`;
}

/**
 * A table in a box that scrolls sideways when the table is wider than the
 * window (a phone), so the page itself never does; focusable, so the keyboard
 * scrolls it too.
 */
export function tableScroll(label: string, table: Html): Html {
  return html`<div class="table-scroll" role="region" aria-label="${label}" tabindex="0">${table}</div>`;
}

/** The icon is empty (`data:,`): else every page asks for /favicon.ico, a 404 in the browser's console. */
function layout(page: PageOptions): Html {
  const notice = page.notice
    ? html`<div class="notice notice-${page.notice.kind}" role="${page.notice.kind === 'error' ? 'alert' : 'status'}">
        ${page.notice.kind === 'error' ? 'Error: ' : ''}${page.notice.text}
      </div>`
    : null;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="csrf-token" content="${page.csrf}" />
        <title>${page.title} · batch-exports console</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="${ASSETS_PATH}/console.css" />
        <script src="${ASSETS_PATH}/console.js" defer></script>
      </head>
      <body>
        <a class="skip-link" href="#main">Skip to content</a>
        <header class="top">
          <nav aria-label="Console">
            <a class="brand" href="${CONSOLE_PATH}">batch-exports</a>
            <a href="${CONSOLE_PATH}">Exports</a>
            <a href="${CONSOLE_PATH}/new">New export</a>
            <a href="${BULL_BOARD_PATH}">Queues (Bull Board)</a>
          </nav>
          <form method="post" action="/admin/logout" class="logout">
            ${csrfInput(page.csrf)}
            <button type="submit" class="link-button">Log out</button>
          </form>
        </header>
        <main id="main">
          ${
            page.trail?.length
              ? html`<nav aria-label="Breadcrumb" class="trail">
                  <ol>
                    ${page.trail.map(
                      (t) =>
                        html`<li>
                          <a href="${t.href}"><bdi>${t.text}</bdi></a>
                        </li>`,
                    )}
                  </ol>
                </nav>`
              : null
          }
          <h1>${page.heading ?? page.title}</h1>
          ${notice} ${page.body}
        </main>
      </body>
    </html> `;
}

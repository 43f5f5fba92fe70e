import type { Response } from 'express';
import { csrfToken } from '../csrf';
import { html, type Html } from '../html';
import { CONSOLE_PATH, csrfInput, sendPage } from '../layout';

export interface ConfirmOptions {
  /** The question, as the page's title and heading. */
  title: string;
  /** What will happen, and what will not. */
  consequences: Html;
  /** Where the change is posted (with `confirm=yes`). */
  action: string;
  /** The button that makes the change: says what it does. */
  yes: string;
  /** The way back without changing anything. */
  back: { href: string; text: string };
  /** Fields the change posts along (`return_to`). */
  hidden?: Record<string, string>;
}

/**
 * A change that cannot be undone asks first, on a page of its own: it works
 * without JavaScript, a screen reader reads the consequences before the
 * button, and back leaves everything as it was.
 */
export function sendConfirmPage(res: Response, exp: { id: string; name: string }, o: ConfirmOptions): void {
  const csrf = csrfToken(res);
  sendPage(res, 200, {
    title: o.title,
    csrf,
    trail: [
      { href: CONSOLE_PATH, text: 'Exports' },
      { href: `${CONSOLE_PATH}/${exp.id}`, text: exp.name },
    ],
    body: html`<section class="panel confirm" aria-label="Confirmation">
      ${o.consequences}
      <form method="post" action="${o.action}">
        ${csrfInput(csrf)}
        <input type="hidden" name="confirm" value="yes" />
        ${Object.entries(o.hidden ?? {}).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`)}
        <button type="submit">${o.yes}</button>
        <a href="${o.back.href}">${o.back.text}</a>
      </form>
    </section>`,
  });
}

/* The console's only script (served by the API; CSP script-src 'self'). Pages work without it;
   it shows a destination test's result in place and keeps a backfill's progress up to date. */
/* global document, fetch, FormData, URLSearchParams, URL, location, sessionStorage, setTimeout */
'use strict';

const ICONS = { Completed: '✓', Running: '▶', Failed: '✕', Cancelled: '⊘' };

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute('content') : '';
}

/** The same markup as format.ts statusBadge, built without innerHTML. */
function badge(status) {
  const span = document.createElement('span');
  span.className = 'status status-' + status.toLowerCase().replace(/[^a-z]+/g, '-');
  const icon = document.createElement('span');
  icon.setAttribute('aria-hidden', 'true');
  icon.textContent = ICONS[status] || '•';
  span.append(icon, ' ' + status);
  return span;
}

/** What a 401 means to someone using the console: not the API's words about bearer tokens. */
const SESSION_ENDED = 'your session has ended; reload the page to log in again';

async function postForm(form) {
  const res = await fetch(form.action, {
    method: 'POST',
    headers: { accept: 'application/json', 'x-csrf-token': csrfToken() },
    body: new URLSearchParams(new FormData(form)),
    credentials: 'same-origin',
  });
  if (res.status === 401) throw new Error(SESSION_ENDED);
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error((body && body.error && body.error.message) || 'HTTP ' + res.status);
  return body;
}

/** Forms with data-inline-result: the answer is written into that element instead of a new page. */
function inlineResults() {
  for (const form of document.querySelectorAll('form[data-inline-result]')) {
    const out = document.getElementById(form.dataset.inlineResult);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = form.querySelector('button');
      button.disabled = true;
      out.textContent = 'Testing the destination…';
      try {
        const result = await postForm(form);
        out.replaceChildren(
          badge(result.status === 'ok' ? 'Completed' : 'Failed'),
          ' Destination test: ' + result.message,
        );
      } catch (err) {
        out.replaceChildren(badge('Failed'), ' Destination test could not run: ' + err.message);
      } finally {
        button.disabled = false;
      }
    });
  }
}

const count = (n) => Number(n || 0).toLocaleString('en-US');

/** Same words as backfill-section.ts backfillText. */
function backfillDetail(b) {
  return [
    count(b.finished_runs) + ' of ' + count(b.total_runs) + ' runs finished',
    b.failed_runs ? count(b.failed_runs) + ' failed' : '',
    b.cancelled_runs ? count(b.cancelled_runs) + ' cancelled' : '',
    b.skipped_runs ? count(b.skipped_runs) + ' skipped' : '',
    count(b.records_completed) + ' records',
  ]
    .filter(Boolean)
    .join(', ');
}

/** A running backfill's panel asks for its progress every second until the backfill ends. */
function backfillProgress() {
  const panel = document.querySelector('[data-backfill-url]');
  if (!panel || panel.dataset.status !== 'Running') return;
  const bar = panel.querySelector('progress');
  const text = panel.querySelector('.backfill-text');
  // While the progress cannot be read (Redis or the API down), the numbers shown are old: say so.
  const stale = document.createElement('span');
  stale.className = 'backfill-stale';
  let failingSince = null;
  const poll = async () => {
    let b = null;
    let why = '';
    try {
      const res = await fetch(panel.dataset.backfillUrl, { headers: { accept: 'application/json' } });
      if (res.status === 401) {
        // Asking again every second would never succeed: say why the progress stopped.
        text.append(' (no longer updated: ' + SESSION_ENDED + ')');
        return;
      }
      if (res.ok) b = await res.json();
      else {
        const body = await res.json().catch(() => null);
        why = (body && body.error && body.error.message) || 'HTTP ' + res.status;
      }
    } catch (err) {
      why = 'the console cannot be reached (' + err.message + ')';
    }
    if (!b) {
      failingSince = failingSince || new Date();
      stale.textContent =
        ' (not updated since ' + failingSince.toISOString().slice(11, 19) + ' UTC: ' + why + '; still trying)';
      if (!stale.isConnected) text.append(stale);
    } else {
      failingSince = null;
    }
    if (b) {
      bar.value = b.progress;
      bar.textContent = Math.round(b.progress * 100) + '%';
      const detail = document.createElement('span');
      detail.className = 'backfill-detail';
      detail.textContent = backfillDetail(b);
      text.replaceChildren(badge(b.status), ' ', detail);
      panel.dataset.status = b.status;
      if (b.status !== 'Running') {
        const cancel = panel.querySelector('.backfill-cancel');
        if (cancel) cancel.remove();
        return;
      }
    }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
}

/** A new export's event filters show (and are sent) only while a model that takes them is chosen. */
function eventFilters() {
  const set = document.querySelector('fieldset[data-filter-models]');
  const model = document.querySelector('select[name="model"]');
  if (!set || !model) return;
  const models = set.dataset.filterModels.split(' ');
  const sync = () => {
    const on = models.includes(model.value);
    set.hidden = !on;
    set.disabled = !on;
  };
  model.addEventListener('change', sync);
  // A field the API refused stays in view, whatever the model.
  if (!set.querySelector('[aria-invalid="true"]')) sync();
}

/*
 * An edit form sent after the session ended comes back, after the login, with
 * the stored values (`?notice=not-saved`). On submit, what was typed (never a
 * secret) is kept in this tab's sessionStorage and put back on that page;
 * any other page drops it.
 */
const EDIT_DRAFT = 'bx-console-edit-draft';
const keptField = (el) =>
  el.name &&
  el.name !== '_csrf' &&
  el.type !== 'hidden' &&
  el.type !== 'password' &&
  el.getAttribute('autocomplete') !== 'new-password';

function keepEdits() {
  let draft = null;
  try {
    draft = JSON.parse(sessionStorage.getItem(EDIT_DRAFT) || 'null');
  } catch {
    draft = null;
  }
  sessionStorage.removeItem(EDIT_DRAFT);
  const form = document.querySelector('form.export-form');
  if (!form || !/\/edit$/.test(new URL(form.action).pathname)) return;
  const notSaved = new URLSearchParams(location.search).get('notice') === 'not-saved';
  if (draft && notSaved && draft.action === form.action && draft.values) {
    for (const el of form.elements) {
      if (!keptField(el) || !Object.prototype.hasOwnProperty.call(draft.values, el.name)) continue;
      const value = draft.values[el.name];
      if (el.type === 'checkbox') el.checked = value === true;
      else if (typeof value === 'string') el.value = value;
    }
    const notice = document.querySelector('.notice');
    if (notice) notice.append(' What you typed is filled in again below; secrets must be typed again.');
  }
  form.addEventListener('submit', () => {
    const values = {};
    for (const el of form.elements) {
      if (keptField(el)) values[el.name] = el.type === 'checkbox' ? el.checked : el.value;
    }
    sessionStorage.setItem(EDIT_DRAFT, JSON.stringify({ action: form.action, values }));
  });
}

/** After a failed submit, keyboard and screen-reader users start at the list of problems. */
function focusErrors() {
  const summary = document.querySelector('.error-summary');
  if (summary) summary.focus();
}

document.addEventListener('DOMContentLoaded', () => {
  inlineResults();
  backfillProgress();
  eventFilters();
  focusErrors();
  keepEdits();
});

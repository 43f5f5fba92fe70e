import { RUN_STATUSES, type BatchExport, type Run } from '@bx/core';
import { MODEL_CHOICES } from '@bx/models';
import type { Request } from 'express';
import { BULL_BOARD_PATH } from '../../bull-board';
import { exportView } from '../../serialize';
import { CHART_WINDOW_MS, recordsChart } from '../chart';
import type { ConsoleDeps } from '../deps';
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatInstant,
  formatInterval,
  isUtcZone,
  statusBadge,
  statusText,
} from '../format';
import { html, type Html } from '../html';
import { CONSOLE_PATH, csrfInput, tableScroll } from '../layout';
import { backfillSection, type BackfillPanel } from './backfill-section';
import { recentBackfills } from '../service-calls';

/** Backfills listed on an export's page, newest first. */
const RECENT_BACKFILLS = 5;

/** Runs per page of an export's run list (an export may hold 100k runs). */
export const RUNS_PAGE_SIZE = 50;

/** What `POST .../test` answered, when the page is shown again without JavaScript. */
export interface TestResult {
  status: string;
  message: string;
}

export interface ExportPageExtras {
  testResult?: TestResult | null;
  backfill?: BackfillPanel | null;
}

export async function exportPage(
  deps: ConsoleDeps,
  req: Request,
  id: string,
  csrf: string,
  extras: ExportPageExtras = {},
): Promise<{ title: string; heading: Html; body: Html }> {
  const exp = await deps.service.get(id);
  const status = typeof req.query.status === 'string' ? req.query.status : '';
  const cursor = typeof req.query.cursor === 'string' ? req.query.cursor : undefined;
  const now = await deps.service.now();
  const window = { start: now - CHART_WINDOW_MS[exp.interval], end: now };
  const [page, recent, backfills] = await Promise.all([
    deps.service.listRuns(id, {
      status: (RUN_STATUSES as readonly string[]).includes(status) ? status : undefined,
      cursor,
      limit: String(RUNS_PAGE_SIZE),
    }),
    deps.service.listRuns(id, { start: new Date(window.start).toISOString(), limit: '1000' }),
    recentBackfills(deps, id, RECENT_BACKFILLS),
  ]);
  const base = `${CONSOLE_PATH}/${exp.id}`;
  return {
    title: exp.name,
    heading: html`<bdi>${exp.name}</bdi>`,
    body: html` ${actions(exp, csrf, extras.testResult ?? null)}
      <section aria-labelledby="h-settings">
        <h2 id="h-settings">Settings</h2>
        ${settings(exp)}
      </section>
      <section aria-labelledby="h-chart">
        <h2 id="h-chart">Records per interval</h2>
        ${recordsChart(recent.results, window, exp.timezone)}
      </section>
      ${backfillSection(exp, csrf, extras.backfill ?? null, backfills)}
      <section aria-labelledby="h-runs">
        <h2 id="h-runs">Runs</h2>
        ${runFilter(base, status)}
        ${
          page.results.length === 0 && page.next
            ? html`<p class="none-yet">No ${status} runs among the newest ones looked at; older runs follow.</p>`
            : runsTable(exp, page.results, csrf, req.originalUrl)
        }
        ${
          page.next
            ? html`<nav class="pager" aria-label="Pages of runs">
                <a
                  rel="next"
                  href="${base}?${String(
                    new URLSearchParams({ ...(status ? { status } : {}), cursor: page.next }),
                  )}#h-runs"
                  >Older runs</a
                >
              </nav>`
            : null
        }
        ${cursor ? html`<p><a href="${base}#h-runs">Newest runs</a></p>` : null}
      </section>`,
  };
}

function actions(exp: BatchExport, csrf: string, result: TestResult | null): Html {
  const base = `${CONSOLE_PATH}/${exp.id}`;
  return html`<section class="actions" aria-label="Export state and actions">
    <p class="state">
      State:
      ${statusBadge(exp.paused ? 'Paused' : 'Active')}${
        exp.paused_reason ? html` <span class="muted">(${exp.paused_reason})</span>` : null
      }
    </p>
    <div class="buttons">
      <form method="post" action="${base}/${exp.paused ? 'unpause' : 'pause'}">
        ${csrfInput(csrf)}
        <button type="submit">${exp.paused ? 'Unpause' : 'Pause'}</button>
      </form>
      <form method="post" action="${base}/test" data-inline-result="test-result">
        ${csrfInput(csrf)}
        <button type="submit">Test destination</button>
      </form>
      <a class="button" href="${base}/edit">Edit</a>
      <a class="button" href="${BULL_BOARD_PATH}/queue/export-runs">Queue in Bull Board</a>
    </div>
    <p id="test-result" class="test-result" role="status" aria-live="polite">
      ${
        result
          ? html`${statusBadge(result.status === 'ok' ? 'Completed' : 'Failed')} Destination test: ${result.message}`
          : null
      }
    </p>
  </section>`;
}

function settings(exp: BatchExport): Html {
  const view = exportView(exp) as unknown as BatchExport;
  const list = (items: string[]) => (items.length ? items.join(', ') : html`<span class="muted">none</span>`);
  const when = (iso: string | null) => (iso ? `${formatInstant(iso)} UTC` : html`<span class="muted">not set</span>`);
  const config = Object.entries(view.destination.config as Record<string, unknown>).filter(
    ([, v]) => v !== null && v !== undefined && v !== '',
  );
  return html`<dl class="settings">
    <dt>Id</dt>
    <dd><code>${exp.id}</code></dd>
    <dt>Team</dt>
    <dd>${exp.team_id}</dd>
    <dt>Model</dt>
    <dd>${exp.model}</dd>
    <dt>Interval</dt>
    <dd>${exp.interval}, time zone ${exp.timezone}</dd>
    ${
      // A model without event filters (persons) takes none: the API refuses them (contract: Models).
      // One this version does not know (stored by a newer one) shows its filters as stored.
      (MODEL_CHOICES.find((m) => m.name === exp.model)?.eventFilters ?? true)
        ? html`<dt>Events included</dt>
            <dd>${list(exp.include_events)}</dd>
            <dt>Events excluded</dt>
            <dd>${list(exp.exclude_events)}</dd>`
        : null
    }
    <dt>Start at</dt>
    <dd>${when(exp.start_at)}</dd>
    <dt>End at</dt>
    <dd>${when(exp.end_at)}</dd>
    <dt>Destination</dt>
    <dd>
      ${view.destination.type}
      <dl class="config">
        ${config.map(
          ([k, v]) =>
            html`<dt>${k}</dt>
              <dd><code>${typeof v === 'string' ? v : JSON.stringify(v)}</code></dd>`,
        )}
      </dl>
      <span class="muted">Secret fields are write-only and never shown.</span>
    </dd>
    <dt>Created</dt>
    <dd>${when(exp.created_at)}</dd>
    <dt>Updated</dt>
    <dd>${when(exp.updated_at)}</dd>
  </dl>`;
}

function runFilter(base: string, current: string): Html {
  return html`<form method="get" action="${base}" class="filters" aria-label="Filter runs">
    <div class="field">
      <label for="run-status">Run status</label>
      <select id="run-status" name="status">
        <option value="">Any</option>
        ${RUN_STATUSES.map(
          (s) => html`<option value="${s}" ${s === current ? html` selected` : ''}>${statusText(s)}</option>`,
        )}
      </select>
    </div>
    <button type="submit">Show</button>
  </form>`;
}

const RETRYABLE = new Set(['Completed', 'Failed', 'Cancelled', 'FailedRetryable']);
/** Statuses a run can be cancelled in. */
export const CANCELLABLE: ReadonlySet<string> = new Set(['Scheduled', 'Running', 'FailedRetryable']);

/** A run's duration from its last start to its end, or '' while unknown. */
export function runDuration(run: Run): string {
  if (!run.started_at || !run.finished_at) return '';
  return formatDuration(Math.max(0, Date.parse(run.finished_at) - Date.parse(run.started_at)));
}

/**
 * A run's status; a run not yet started of a paused export says that it
 * waits for the unpause (pausing keeps such runs from starting: contract).
 */
export function runStatus(exp: BatchExport, run: Run): Html {
  return html`${statusBadge(run.status)}${pausedNote(exp, run)}`;
}

/** ` (waits for the export to be unpaused)` after the status of a run a pause holds back, else null. */
export function pausedNote(exp: BatchExport, run: Run): Html | null {
  const waits = exp.paused && run.status === 'Scheduled';
  return waits ? html` <span class="muted paused-note">(waits for the export to be unpaused)</span>` : null;
}

/** Retry and cancel buttons of a run, as forms that come back to `returnTo`. */
export function runActions(exp: BatchExport, run: Run, csrf: string, returnTo: string): Html {
  const form = (action: 'retry', label: string) =>
    html`<form method="post" action="${CONSOLE_PATH}/${exp.id}/runs/${run.id}/${action}" class="inline">
      ${csrfInput(csrf)}<input type="hidden" name="return_to" value="${returnTo}" />
      <button type="submit" aria-label="${label} run ${formatInstant(run.data_interval_start, exp.timezone)}">
        ${label}
      </button>
    </form>`;
  // Cancelling cannot be undone: a page asks first.
  const cancel = html`<a
    class="button"
    href="${CONSOLE_PATH}/${exp.id}/runs/${run.id}/cancel?${String(new URLSearchParams({ return_to: returnTo }))}"
    aria-label="Cancel run ${formatInstant(run.data_interval_start, exp.timezone)}"
    >Cancel</a
  >`;
  return html`${RETRYABLE.has(run.status) ? form('retry', 'Retry') : null}${CANCELLABLE.has(run.status) ? cancel : null}`;
}

function runsTable(exp: BatchExport, runs: Run[], csrf: string, returnTo: string): Html {
  if (runs.length === 0) return html`<p>No runs${exp.paused ? ' (the export is paused)' : ''}.</p>`;
  // A UTC export's intervals in UTC once, not twice (`Etc/UTC` is UTC too).
  const utc = isUtcZone(exp.timezone);
  // Not 'Runs': that names the section around it, and a screen reader's list of landmarks showed two.
  return tableScroll(
    'Table of runs',
    html`<table class="data runs">
      <caption>
        Runs, newest interval first
      </caption>
      <thead>
        <tr>
          <th scope="col">Interval (${exp.timezone})</th>
          ${utc ? null : html`<th scope="col">Interval (UTC)</th>`}
          <th scope="col">Status</th>
          <th scope="col" class="num">Records</th>
          <th scope="col" class="num">Bytes</th>
          <th scope="col" class="num">Files</th>
          <th scope="col">Duration</th>
          <th scope="col" class="num">Attempts</th>
          <th scope="col">Error</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        ${runs.map(
          (run) =>
            html`<tr data-run-id="${run.id}">
              <th scope="row">
                <a href="${CONSOLE_PATH}/${exp.id}/runs/${run.id}"
                  >${formatInterval(run.data_interval_start, run.data_interval_end, exp.timezone)}</a
                >
              </th>
              ${utc ? null : html`<td>${formatInterval(run.data_interval_start, run.data_interval_end, 'UTC')}</td>`}
              <td>${runStatus(exp, run)}</td>
              <td class="num records">${formatCount(run.records_completed)}</td>
              <td class="num">${formatBytes(run.bytes_exported)}</td>
              <td class="num">${run.files.length}</td>
              <td>${runDuration(run)}</td>
              <td class="num">${run.attempts}</td>
              <td class="error">${run.error ? truncate(run.error, 160) : null}</td>
              <td>${runActions(exp, run, csrf, returnTo)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`,
  );
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

import { instant, type BatchExport } from '@bx/core';
import { formatCount, formatInstant, statusBadge } from '../format';
import { control, errorSummary, type FieldErrors } from '../form-controls';
import { html, type Html } from '../html';
import { CONSOLE_PATH, csrfInput, tableScroll } from '../layout';

/** Backfills above this many intervals need `confirm: true` (contract). */
export const CONFIRM_ABOVE = 1000;

export interface BackfillInput {
  start_at: string;
  end_at: string;
  force: boolean;
}

/** A backfill as GET .../backfills/:id answers (fields the lead's API adds are optional here). */
export interface BackfillProgress {
  id: string;
  start_at?: string;
  end_at?: string;
  status: string;
  total_runs: number;
  finished_runs: number;
  failed_runs: number;
  cancelled_runs?: number;
  skipped_runs?: number;
  records_completed: number;
  progress: number;
  finished_at: string | null;
}

export type BackfillPanel =
  | { kind: 'form'; input: BackfillInput; errors: FieldErrors }
  | {
      kind: 'dry-run';
      input: BackfillInput;
      /** The range as the API read `input` (ISO instants in UTC). */
      from: string;
      to: string;
      total_runs: number;
      to_export: number;
      already_exported: number;
      in_progress: number;
      /** Why the backfill was refused (more intervals than allowed without confirming). */
      confirmError?: string;
    }
  | { kind: 'progress'; backfill: BackfillProgress };

/** The backfill form: a dry run first, then the backfill, then its progress (updated by console.js). */
export function backfillSection(
  exp: BatchExport,
  csrf: string,
  panel: BackfillPanel | null,
  recent: readonly BackfillProgress[] = [],
): Html {
  const input = panel && panel.kind !== 'progress' ? panel.input : { start_at: '', end_at: '', force: false };
  const errors: FieldErrors = panel?.kind === 'form' ? panel.errors : new Map();
  const labels = new Map([
    ['start_at', 'Start'],
    ['end_at', 'End'],
    ['confirm', 'Confirm'],
  ]);
  return html`<section aria-labelledby="h-backfill" id="backfill">
    <h2 id="h-backfill">Backfill</h2>
    ${panel?.kind === 'progress' ? progressPanel(exp, panel.backfill) : null}
    ${panel?.kind === 'dry-run' ? dryRunPanel(exp, panel, csrf) : null}
    <form method="get" action="${CONSOLE_PATH}/${exp.id}#backfill" novalidate class="backfill-form">
      ${errorSummary(errors, labels, 'The backfill was not started')}
      ${control(
        {
          name: 'start_at',
          label: 'Start',
          kind: 'text',
          value: input.start_at,
          required: true,
          hint: 'ISO 8601, e.g. 2024-01-01T00:00:00Z (a time without offset is UTC); every interval of the export that has ended in the range',
        },
        errors,
      )}
      ${control({ name: 'end_at', label: 'End', kind: 'text', value: input.end_at, required: true }, errors)}
      ${control(
        {
          name: 'force',
          label: 'Export intervals again even if already exported',
          kind: 'checkbox',
          checked: input.force,
        },
        errors,
      )}
      <button type="submit">Dry run</button>
    </form>
    ${recent.length ? recentTable(exp, recent) : null}
  </section>`;
}

function dryRunPanel(exp: BatchExport, d: BackfillPanel & { kind: 'dry-run' }, csrf: string): Html {
  // Confirmation is asked for above the contract's limit, and whenever the API asked for it.
  const needsConfirm = d.total_runs > CONFIRM_ABOVE || d.confirmError !== undefined;
  const confirmErrors: FieldErrors = new Map(d.confirmError ? [['confirm', [d.confirmError]]] : []);
  return html`<div class="panel dry-run">
    <h3>Dry run</h3>
    <p role="status">
      ${formatCount(d.total_runs)} whole interval${d.total_runs === 1 ? '' : 's'}
      <span class="covered-range"
        >from ${formatInstant(d.from, exp.timezone)} to ${formatInstant(d.to, exp.timezone)} (${exp.timezone})</span
      >: <strong class="to-export">${formatCount(d.to_export)} to export</strong>,
      <span class="already-exported">${formatCount(d.already_exported)} already exported</span>${
        d.in_progress ? html`, <span class="in-progress">${formatCount(d.in_progress)} queued or running</span>` : null
      }.
      Nothing was created.
    </p>
    ${
      typed(d) !== `${d.from} ${d.to}`
        ? html`<p class="muted range-note">
            A backfill exports whole intervals that have ended: those that meet the range typed,
            ${formatInstant(instantOf(d.input.start_at) ?? d.from, exp.timezone)} to
            ${formatInstant(instantOf(d.input.end_at) ?? d.to, exp.timezone)}.
          </p>`
        : null
    }
    <form method="post" action="${CONSOLE_PATH}/${exp.id}/backfills" novalidate>
      ${csrfInput(csrf)}
      <input type="hidden" name="start_at" value="${d.input.start_at}" />
      <input type="hidden" name="end_at" value="${d.input.end_at}" />
      ${d.input.force ? html`<input type="hidden" name="force" value="true" />` : null}
      <input type="hidden" name="mode" value="run" />
      ${
        needsConfirm
          ? control(
              {
                name: 'confirm',
                label: `Yes, queue ${formatCount(d.total_runs)} runs`,
                kind: 'checkbox',
                hint: `More than ${formatCount(CONFIRM_ABOVE)} intervals need confirmation.`,
              },
              confirmErrors,
            )
          : null
      }
      <button type="submit">Start backfill</button>
    </form>
  </div>`;
}

/** A typed instant as the API reads it (ISO 8601; no offset is UTC), or null. */
function instantOf(text: string): string | null {
  const parsed = instant.safeParse(text);
  return parsed.success ? new Date(parsed.data).toISOString() : null;
}

/** The range typed, as the same ISO text as the covered one, to tell whether they differ. */
function typed(d: BackfillPanel & { kind: 'dry-run' }): string {
  return `${instantOf(d.input.start_at)} ${instantOf(d.input.end_at)}`;
}

function progressPanel(exp: BatchExport, b: BackfillProgress): Html {
  const url = `${CONSOLE_PATH}/${exp.id}/backfills/${b.id}`;
  return html`<div class="panel backfill-progress" data-backfill-url="${url}" data-status="${b.status}">
    <h3>Backfill <code>${b.id}</code></h3>
    ${range(exp, b) ? html`<p class="backfill-range">${range(exp, b)} (${exp.timezone})</p>` : null}
    <p>
      <label for="backfill-progress-bar">Progress</label>
      <progress id="backfill-progress-bar" max="1" value="${b.progress.toFixed(4)}">
        ${Math.round(b.progress * 100)}%
      </progress>
    </p>
    <p class="backfill-text" role="status" aria-live="polite">${backfillText(b)}</p>
    ${
      b.status === 'Running'
        ? html`<p class="backfill-cancel"><a class="button" href="${url}/cancel">Cancel backfill</a></p>`
        : null
    }
  </div>`;
}

function recentTable(exp: BatchExport, recent: readonly BackfillProgress[]): Html {
  return tableScroll(
    'Latest backfills',
    html`<table class="data backfills">
      <caption>
        Latest backfills
      </caption>
      <thead>
        <tr>
          <th scope="col">Range (${exp.timezone})</th>
          <th scope="col">Status</th>
          <th scope="col">Progress</th>
        </tr>
      </thead>
      <tbody>
        ${recent.map(
          (b) =>
            html`<tr>
              <th scope="row">
                <a href="${CONSOLE_PATH}/${exp.id}?backfill=${b.id}#backfill">${range(exp, b) ?? b.id}</a>
              </th>
              <td>${statusBadge(b.status)}</td>
              <td>${backfillDetail(b)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`,
  );
}

/** The intervals a backfill covers, in the export's time zone; null where the API gave no range. */
function range(exp: BatchExport, b: BackfillProgress): string | null {
  if (!b.start_at || !b.end_at) return null;
  return `${formatInstant(b.start_at, exp.timezone)} – ${formatInstant(b.end_at, exp.timezone)}`;
}

/** The counts of a backfill in words; console.js writes the same words as it polls. */
export function backfillDetail(b: BackfillProgress): string {
  return [
    `${formatCount(b.finished_runs)} of ${formatCount(b.total_runs)} runs finished`,
    b.failed_runs ? `${formatCount(b.failed_runs)} failed` : '',
    b.cancelled_runs ? `${formatCount(b.cancelled_runs)} cancelled` : '',
    b.skipped_runs ? `${formatCount(b.skipped_runs)} skipped` : '',
    `${formatCount(b.records_completed)} records`,
  ]
    .filter(Boolean)
    .join(', ');
}

/** One line of progress: the status in words, then the counts. */
export function backfillText(b: BackfillProgress): Html {
  return html`${statusBadge(b.status)} <span class="backfill-detail">${backfillDetail(b)}</span>`;
}

import type { BatchExport, Run, RunReceipt } from '@bx/core';
import type { ReconciliationView } from '@bx/operations';
import { BULL_BOARD_PATH } from '../../bull-board';
import type { ConsoleDeps } from '../deps';
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatInstant,
  formatInterval,
  formatPreciseInstant,
  isUtcZone,
} from '../format';
import { html, type Html } from '../html';
import { runActions, runDuration, runStatus } from './export-page';

/** Files listed on the run page; a split interval may have thousands. */
const MAX_FILES_SHOWN = 100;

/** One line a worker logged for the run (GET .../runs/:run_id/logs). */
export interface RunLogLine {
  timestamp: string;
  level: string;
  message: string;
}

export async function runPage(
  deps: ConsoleDeps,
  exportId: string,
  runId: string,
  csrf: string,
  returnTo: string,
  logs: RunLogLine[] | null,
): Promise<{ exp: BatchExport; title: string; body: Html }> {
  const exp = await deps.service.get(exportId);
  const [run, now] = await Promise.all([deps.runs.get(exportId, runId), deps.service.now()]);
  const receipt = run.receipt;
  // What the reconciler last found for this interval (GET .../reconciliation: the window's intervals).
  const reconciled = receipt
    ? ((await deps.service.reconciliation(exportId)).results.find(
        (r) => r.data_interval_start === run.data_interval_start,
      ) ?? null)
    : null;
  const files = run.files.slice(0, MAX_FILES_SHOWN);
  return {
    exp,
    title: `Run ${formatInterval(run.data_interval_start, run.data_interval_end, exp.timezone)} (${exp.timezone})`,
    body: html` <section class="actions" aria-label="Run status and actions">
        <p class="state">Status: ${runStatus(exp, run)}</p>
        <div class="buttons">
          ${runActions(exp, run, csrf, returnTo)}
          <a class="button" href="${BULL_BOARD_PATH}/queue/export-runs/${run.id}">Job in Bull Board</a>
        </div>
      </section>
      ${
        run.error
          ? html`<section aria-labelledby="h-error">
              <h2 id="h-error">Error</h2>
              <pre class="run-error">${run.error}</pre>
            </section>`
          : null
      }
      <section aria-labelledby="h-run">
        <h2 id="h-run">Details</h2>
        <dl class="settings">
          <dt>Run id</dt>
          <dd><code>${run.id}</code></dd>
          ${
            isUtcZone(exp.timezone)
              ? null
              : html`<dt>Interval (${exp.timezone})</dt>
                  <dd>${formatInterval(run.data_interval_start, run.data_interval_end, exp.timezone)}</dd>`
          }
          <dt>Interval (UTC)</dt>
          <dd>${formatInterval(run.data_interval_start, run.data_interval_end, 'UTC')}</dd>
          <dt>Attempts</dt>
          <dd class="attempts">${run.attempts}</dd>
          <dt>Records</dt>
          <dd class="records">${formatCount(run.records_completed)}</dd>
          <dt>Bytes</dt>
          <dd>${formatBytes(run.bytes_exported)}</dd>
          <dt>Duration of the last attempt</dt>
          <dd>${runDuration(run) || soFar(run, now) || html`<span class="muted">n/a</span>`}</dd>
          <dt>Created</dt>
          <dd>${formatInstant(run.created_at)} UTC</dd>
          <dt>Started</dt>
          <dd>${run.started_at ? `${formatInstant(run.started_at)} UTC` : 'not yet'}</dd>
          <dt>Finished</dt>
          <dd>${run.finished_at ? `${formatInstant(run.finished_at)} UTC` : 'not yet'}</dd>
          <dt>Backfill</dt>
          <dd>${run.backfill_id ? html`<code>${run.backfill_id}</code>` : 'none (scheduled run)'}</dd>
          <dt>Files (${formatCount(run.files.length)})</dt>
          <dd>
            ${
              files.length
                ? html`<ul class="files">
                      ${files.map((f) => html`<li><code>${f}</code></li>`)}
                    </ul>
                    ${
                      run.files.length > files.length
                        ? html`<p class="muted">and ${run.files.length - files.length} more</p>`
                        : null
                    }`
                : html`<span class="muted">none</span>`
            }
          </dd>
        </dl>
      </section>
      ${receipt ? receiptSection(receipt, reconciled) : null} ${logsSection(logs)}`,
  };
}

/** How long a running attempt has run, or ''; by the store's clock, as the rest of the console's times. */
function soFar(run: Run, now: number): string {
  if (run.status !== 'Running' || !run.started_at) return '';
  return `${formatDuration(Math.max(0, now - Date.parse(run.started_at)))} so far`;
}

/** A completed run's receipt (contract: Receipts): what its destination holds of the interval. */
function receiptSection(r: RunReceipt, reconciled: ReconciliationView | null): Html {
  return html`<section aria-labelledby="h-receipt">
    <h2 id="h-receipt">Receipt</h2>
    <dl class="settings receipt">
      <dt>Records</dt>
      <dd>${formatCount(r.records)}</dd>
      <dt>Checksum</dt>
      <dd><code>${r.checksum}</code></dd>
      <dt>Earliest inserted_at</dt>
      <dd>${r.min_inserted_at ? `${formatPreciseInstant(r.min_inserted_at)} UTC` : 'none'}</dd>
      <dt>Latest inserted_at</dt>
      <dd>${r.max_inserted_at ? `${formatPreciseInstant(r.max_inserted_at)} UTC` : 'none'}</dd>
      <dt>Files</dt>
      <dd>${formatCount(r.files.length)}</dd>
      <dt>Version</dt>
      <dd>${r.version}</dd>
      <dt>Reconciliation</dt>
      <dd class="reconciliation">
        ${
          reconciled
            ? html`${reconciled.status}: source ${formatCount(reconciled.source_records)} rows, exported
              ${formatCount(reconciled.exported_records)}; checked ${formatInstant(reconciled.checked_at)} UTC`
            : html`<span class="muted">not checked (outside the reconcile window, or not yet)</span>`
        }
      </dd>
    </dl>
  </section>`;
}

function logsSection(logs: RunLogLine[] | null): Html {
  if (logs === null) return html``;
  return html`<section aria-labelledby="h-logs">
    <h2 id="h-logs">Logs</h2>
    ${
      logs.length === 0
        ? html`<p>No log lines for this run yet.</p>`
        : html`<table class="data logs">
            <caption>
              What the workers logged for this run, oldest first
            </caption>
            <thead>
              <tr>
                <th scope="col">Time (UTC)</th>
                <th scope="col">Level</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              ${logs.map(
                (l) =>
                  html`<tr class="log-${l.level}">
                    <td>${formatInstant(l.timestamp)}</td>
                    <td><span class="level level-${l.level}">${l.level}</span></td>
                    <td class="message">${l.message}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`;
}

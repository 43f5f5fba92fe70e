import { instant } from '@bx/core';
import { Router, type Request, type Response } from 'express';
import { csrfToken } from './csrf';
import type { ConsoleDeps } from './deps';
import { actionError } from './errors';
import { placeErrors } from './form-controls';
import { CONSOLE_PATH, sendPage } from './layout';
import type { BackfillInput, BackfillPanel, BackfillProgress } from './pages/backfill-section';
import { CANCELLABLE, exportPage } from './pages/export-page';
import { sendConfirmPage } from './pages/confirm-page';
import { runPage } from './pages/run-page';
import { formatCount, formatInstant, formatInterval } from './format';
import { html } from './html';
import { backfillAnswer, cancelBackfill, runLogs } from './service-calls';
import { noticeOf, returnPath, wantsJson, withNotice } from './respond';

/** A run's page and actions, and backfills: dry run, start, progress, cancel. */
export function runRoutes(deps: ConsoleDeps): Router {
  const router = Router();

  router.get('/:id/runs/:run_id', async (req, res) => {
    const token = csrfToken(res);
    const { id, run_id: runId } = req.params;
    const logs = await runLogs(deps, id, runId);
    const page = await runPage(deps, id, runId, token, `${CONSOLE_PATH}/${id}/runs/${runId}`, logs);
    sendPage(res, 200, {
      title: page.title,
      body: page.body,
      csrf: token,
      notice: noticeOf(req),
      trail: [
        { href: CONSOLE_PATH, text: 'Exports' },
        { href: `${CONSOLE_PATH}/${id}`, text: page.exp.name },
      ],
    });
  });

  /** Cancelling a run cannot be undone (it is not retried again): the page that asks first. */
  router.get('/:id/runs/:run_id/cancel', async (req, res) => {
    const { id, run_id: runId } = req.params;
    const back = returnPath(req.query.return_to, `${CONSOLE_PATH}/${id}`);
    const [exp, run] = await Promise.all([deps.service.get(id), deps.runs.get(id, runId)]);
    // Finished meanwhile (or opened again from history): nothing to ask.
    if (!CANCELLABLE.has(run.status)) return void res.redirect(303, withNotice(back, 'cancel-refused'));
    const interval = `${formatInterval(run.data_interval_start, run.data_interval_end, exp.timezone)} (${exp.timezone})`;
    sendConfirmPage(res, exp, {
      title: 'Cancel this run?',
      consequences: html`<p>
        The run of <bdi>${exp.name}</bdi> for <strong>${interval}</strong> (${run.status}) stops and becomes Cancelled:
        it is not tried again. Its interval can be exported later with Retry or a backfill.
      </p>`,
      action: `${CONSOLE_PATH}/${exp.id}/runs/${run.id}/cancel`,
      yes: 'Yes, cancel the run',
      back: { href: back, text: 'No, keep it' },
      hidden: { return_to: back },
    });
  });

  for (const action of ['retry', 'cancel'] as const) {
    router.post(`/:id/runs/:run_id/${action}`, async (req, res) => {
      const { id, run_id: runId } = req.params;
      const form = (req.body ?? {}) as { return_to?: unknown; confirm?: unknown };
      const back = returnPath(form.return_to, `${CONSOLE_PATH}/${id}`);
      if (action === 'cancel' && form.confirm !== 'yes') {
        // Not confirmed (a page of an older version): ask first.
        const query = new URLSearchParams({ return_to: back });
        return void res.redirect(
          303,
          `${CONSOLE_PATH}/${encodeURIComponent(id)}/runs/${encodeURIComponent(runId)}/cancel?${String(query)}`,
        );
      }
      try {
        await (action === 'retry' ? deps.runs.retry(id, runId) : deps.runs.cancel(id, runId));
      } catch (err) {
        const known = actionError(err);
        if (known?.status !== 409) throw err;
        // Not now (queued, running, already finished): the same page, saying why.
        return void res.redirect(303, withNotice(back, `${action}-refused`));
      }
      res.redirect(303, withNotice(back, action === 'retry' ? 'retried' : 'cancelled'));
    });
  }

  router.post('/:id/backfills', async (req, res) => {
    const form = (req.body ?? {}) as Record<string, string | undefined>;
    const input = backfillInput(form);
    // A dry run creates nothing: its page is a GET of the export's page, which back, forward and
    // reload open again (a POST's answer is not: "Confirm Form Resubmission").
    if (form.mode !== 'run') return void res.redirect(303, dryRunPath(req.params.id, input));
    let answer: ReturnType<typeof backfillAnswer>;
    try {
      const confirm = form.confirm === 'true' ? { confirm: true } : {};
      answer = backfillAnswer(await deps.backfills.create(req.params.id, { ...input, ...confirm }));
    } catch (err) {
      const known = actionError(err);
      if (known?.status !== 400) throw err;
      const panel = await dryRun(deps, req.params.id, input);
      // The plan again, with the message at its confirm box; or the form with the API's words.
      if (known.code === 'confirmation_required' && panel.kind === 'dry-run') {
        return showExport(req, res, 400, { ...panel, confirmError: known.message });
      }
      const errors = placeErrors(known.details, BACKFILL_FIELDS);
      if (errors.size === 0) errors.set('', [known.message]);
      return showExport(req, res, 400, { kind: 'form', input, errors });
    }
    res.redirect(
      303,
      `${CONSOLE_PATH}/${req.params.id}?backfill=${encodeURIComponent(answer.backfillId ?? '')}#backfill`,
    );
  });

  /**
   * A dry run's page, or a refused backfill's, is the answer to a POST: its
   * address, opened again (the address bar, back and forward once the page
   * left the cache, a login after the session ended), is the export's page.
   */
  router.get('/:id/backfills', (req, res) => {
    res.redirect(303, `${CONSOLE_PATH}/${encodeURIComponent(req.params.id)}#backfill`);
  });
  // A run's address with its id cut off: the export's runs.
  router.get('/:id/runs', (req, res) => {
    res.redirect(303, `${CONSOLE_PATH}/${encodeURIComponent(req.params.id)}#h-runs`);
  });

  /** Progress for console.js to poll; a browser opening it goes to the export page, which shows it. */
  router.get('/:id/backfills/:backfill_id', async (req, res) => {
    const backfill = await deps.backfills.get(req.params.id, req.params.backfill_id);
    if (wantsJson(req)) return void res.set('Cache-Control', 'no-store').json(backfill);
    res.redirect(303, `${CONSOLE_PATH}/${req.params.id}?backfill=${encodeURIComponent(backfill.id)}#backfill`);
  });

  /** Cancelling a backfill cannot be undone: the page that asks first. */
  router.get('/:id/backfills/:backfill_id/cancel', async (req, res) => {
    const { id, backfill_id: backfillId } = req.params;
    const [exp, b] = await Promise.all([deps.service.get(id), deps.backfills.get(id, backfillId)]);
    const back = `${CONSOLE_PATH}/${exp.id}?backfill=${encodeURIComponent(b.id)}`;
    if (b.status !== 'Running')
      return void res.redirect(303, `${withNotice(back, 'backfill-cancel-refused')}#backfill`);
    const open = b.total_runs - b.finished_runs - b.skipped_runs;
    sendConfirmPage(res, exp, {
      title: 'Cancel this backfill?',
      consequences: html`<p>
        The backfill of <bdi>${exp.name}</bdi> from ${formatInstant(b.start_at, exp.timezone)} to
        ${formatInstant(b.end_at, exp.timezone)} (${exp.timezone}) stops:
        <strong>${formatCount(open)} interval${open === 1 ? '' : 's'} not yet finished</strong> will not be exported (a
        running one stops). The ${formatCount(b.finished_runs)} finished stay as they are.
      </p>`,
      action: `${CONSOLE_PATH}/${exp.id}/backfills/${b.id}/cancel`,
      yes: 'Yes, cancel the backfill',
      back: { href: `${back}#backfill`, text: 'No, keep it running' },
    });
  });

  router.post('/:id/backfills/:backfill_id/cancel', async (req, res) => {
    const { id, backfill_id: backfillId } = req.params;
    const back = `${CONSOLE_PATH}/${id}?backfill=${encodeURIComponent(backfillId)}`;
    if ((req.body as { confirm?: unknown } | undefined)?.confirm !== 'yes') {
      // Not confirmed (a page of an older version): ask first.
      return void res.redirect(
        303,
        `${CONSOLE_PATH}/${encodeURIComponent(id)}/backfills/${encodeURIComponent(backfillId)}/cancel`,
      );
    }
    try {
      await cancelBackfill(deps, id, backfillId);
    } catch (err) {
      if (actionError(err)?.status !== 409) throw err;
      return void res.redirect(303, `${withNotice(back, 'backfill-cancel-refused')}#backfill`);
    }
    res.redirect(303, `${withNotice(back, 'backfill-cancelled')}#backfill`);
  });

  async function showExport(req: Request, res: Response, status: number, backfill: BackfillPanel): Promise<void> {
    const token = csrfToken(res);
    const page = await exportPage(deps, req, req.params.id as string, token, { backfill });
    sendPage(res, status, { ...page, csrf: token, trail: [{ href: CONSOLE_PATH, text: 'Exports' }] });
  }

  return router;
}

const BACKFILL_FIELDS = ['start_at', 'end_at', 'force', 'confirm'];

/** The backfill form's fields, from a posted form or a dry run's query. */
function backfillInput(values: Record<string, unknown>): BackfillInput {
  const text = (key: string) => (typeof values[key] === 'string' ? values[key].trim() : '');
  return { start_at: text('start_at'), end_at: text('end_at'), force: values.force === 'true' };
}

/** The export's page with the dry run of `input` (the backfill form's own GET). */
function dryRunPath(exportId: string, input: BackfillInput): string {
  const query = new URLSearchParams({ start_at: input.start_at, end_at: input.end_at });
  if (input.force) query.set('force', 'true');
  return `${CONSOLE_PATH}/${encodeURIComponent(exportId)}?${String(query)}#backfill`;
}

/** The dry run of `input`: its plan, or the form with the API's reasons at their fields. */
async function dryRun(deps: ConsoleDeps, exportId: string, input: BackfillInput): Promise<BackfillPanel> {
  try {
    const answer = backfillAnswer(await deps.backfills.create(exportId, { ...input, dry_run: true }));
    return planPanel(input, answer.plan ?? {});
  } catch (err) {
    const known = actionError(err);
    if (known?.status !== 400) throw err;
    const errors = placeErrors(known.details, BACKFILL_FIELDS);
    if (errors.size === 0) errors.set('', [known.message]);
    return { kind: 'form', input, errors };
  }
}

function planPanel(input: BackfillInput, plan: Record<string, unknown>): BackfillPanel & { kind: 'dry-run' } {
  const count = (key: string) => Number(plan[key] ?? 0);
  // The whole intervals the backfill covers, as the API aligned them; else the range as it read the
  // text typed (any ISO 8601 form; no offset is UTC): Date reads fewer forms, and no offset as local time.
  const bound = (key: 'start_at' | 'end_at') => (typeof plan[key] === 'string' ? plan[key] : instant.parse(input[key]));
  return {
    kind: 'dry-run',
    input,
    from: bound('start_at'),
    to: bound('end_at'),
    total_runs: count('total_runs'),
    to_export: count('to_export'),
    already_exported: count('already_exported'),
    in_progress: count('in_progress'),
  };
}

/** The progress panel of `?backfill=<id>` on the export page, when that backfill exists. */
export async function backfillPanelOf(deps: ConsoleDeps, req: Request): Promise<BackfillPanel | null> {
  // `?start_at=&end_at=`: the backfill form asks for its dry run.
  if (req.query.start_at !== undefined || req.query.end_at !== undefined) {
    return dryRun(deps, req.params.id as string, backfillInput(req.query));
  }
  const id = typeof req.query.backfill === 'string' ? req.query.backfill : '';
  if (!id) return null;
  try {
    const backfill = (await deps.backfills.get(req.params.id as string, id)) as unknown as BackfillProgress;
    return { kind: 'progress', backfill };
  } catch (err) {
    if (actionError(err)?.status === 404) return null;
    throw err;
  }
}

import { Router, type Request, type Response } from 'express';
import { UUID_ID } from '@bx/core';
import { isRedisUnavailable } from '@bx/store';
import { testDestination } from '../destination-test';
import { REDIS_RETRY_AFTER_SECONDS } from '../error-handler';
import { csrfToken } from './csrf';
import type { ConsoleDeps } from './deps';
import { destinationFields, destinationTypes } from './destination-fields';
import { actionError } from './errors';
import { createBody, patchBody, type FormValues } from './form-body';
import { placeErrors, type FieldErrors } from './form-controls';
import { CONSOLE_PATH, sendPage } from './layout';
import { exportForm, formFieldNames, type ExportFormOptions } from './pages/export-form';
import { exportPage, type ExportPageExtras } from './pages/export-page';
import { exportsListPage } from './pages/exports-list';
import { noticeOf, STORE_DOWN, wantsJson, withNotice } from './respond';
import { backfillPanelOf } from './run-routes';

/** The exports list, one export's page and its actions, and the create and edit forms. */
export function exportRoutes(deps: ConsoleDeps): Router {
  const router = Router();

  router.get('/', async (req, res) => {
    try {
      sendPage(res, 200, { ...(await exportsListPage(deps, req)), csrf: csrfToken(res), notice: noticeOf(req) });
    } catch (err) {
      const known = actionError(err);
      if (known?.status !== 400) throw err;
      // A bad filter (team id): say so and show the unfiltered list's form.
      const page = await exportsListPage(deps, req, { team: '' });
      sendPage(res, 400, { ...page, csrf: csrfToken(res), notice: { kind: 'error', text: known.message } });
    }
  });

  router.get('/new', (req, res) => {
    const types = destinationTypes();
    const type = typeof req.query.type === 'string' && types.includes(req.query.type) ? req.query.type : types[0]!;
    const form = exportForm({ current: null, type, values: null, errors: new Map(), csrf: csrfToken(res) });
    sendPage(res, 200, { ...form, csrf: csrfToken(res), trail: [{ href: CONSOLE_PATH, text: 'Exports' }] });
  });

  router.post('/', async (req, res) => {
    const form = (req.body ?? {}) as FormValues;
    const type = destinationTypes().includes(form['destination.type'] ?? '') ? form['destination.type']! : 'S3';
    try {
      const exp = await deps.service.create(createBody(form, type, destinationFields(type)));
      res.redirect(303, withNotice(`${CONSOLE_PATH}/${exp.id}`, 'created'));
    } catch (err) {
      formError(req, res, err, { current: null, type, values: form });
    }
  });

  router.get('/:id', async (req, res) => {
    const backfill = await backfillPanelOf(deps, req);
    // A dry run the API refused is the form again with its reasons.
    await showExport(req, res, backfill?.kind === 'form' ? 400 : 200, { backfill });
  });

  router.get('/:id/edit', async (req, res) => {
    const current = await deps.service.get(req.params.id);
    const form = exportForm({
      current,
      type: current.destination.type,
      values: null,
      errors: new Map(),
      csrf: csrfToken(res),
    });
    sendPage(res, 200, {
      ...form,
      csrf: csrfToken(res),
      notice: noticeOf(req),
      trail: trail(current.id, current.name),
    });
  });

  router.post('/:id/edit', async (req, res) => {
    const form = (req.body ?? {}) as FormValues;
    const current = await deps.service.get(req.params.id).catch((err: unknown) => {
      // Redis down: the stored export cannot be read, but what was typed can still be shown again.
      const type = form['destination.type'] ?? '';
      if (!isRedisUnavailable(err) || !UUID_ID.test(req.params.id) || !destinationTypes().includes(type)) throw err;
      formError(req, res, err, { current: null, editId: req.params.id, type, values: form });
      return null;
    });
    if (!current) return;
    const type = current.destination.type;
    try {
      await deps.service.update(current.id, patchBody(form, current, destinationFields(type)));
      res.redirect(303, withNotice(`${CONSOLE_PATH}/${current.id}`, 'saved'));
    } catch (err) {
      formError(req, res, err, { current, type, values: form });
    }
  });

  router.post('/:id/pause', async (req, res) => {
    await deps.service.pause(req.params.id);
    res.redirect(303, withNotice(`${CONSOLE_PATH}/${req.params.id}`, 'paused'));
  });
  router.post('/:id/unpause', async (req, res) => {
    await deps.service.unpause(req.params.id);
    res.redirect(303, withNotice(`${CONSOLE_PATH}/${req.params.id}`, 'unpaused'));
  });

  /** console.js shows the JSON inline; without JavaScript the page comes back with the result. */
  router.post('/:id/test', async (req, res) => {
    const result = await testDestination(await deps.service.get(req.params.id), deps.checkDestination);
    if (wantsJson(req)) return void res.json(result);
    await showExport(req, res, 200, { testResult: result });
  });

  // A destination test's page without JavaScript is the answer to a POST: opened again, the export's page.
  router.get('/:id/test', (req, res) => res.redirect(303, `${CONSOLE_PATH}/${encodeURIComponent(req.params.id)}`));

  async function showExport(req: Request, res: Response, status: number, extras: ExportPageExtras): Promise<void> {
    const token = csrfToken(res);
    const page = await exportPage(deps, req, req.params.id as string, token, extras);
    sendPage(res, status, {
      ...page,
      csrf: token,
      notice: noticeOf(req),
      trail: [{ href: CONSOLE_PATH, text: 'Exports' }],
    });
  }

  /** The form again with the API's messages at their fields; secrets are never put back. */
  function formError(
    req: Request,
    res: Response,
    err: unknown,
    opts: Pick<ExportFormOptions, 'current' | 'editId' | 'type'> & { values: FormValues },
  ): void {
    const known = actionError(err);
    // Redis down: the form again with what was typed (503), not a page that loses it.
    const storeDown = isRedisUnavailable(err);
    if (!storeDown && (!known || known.status !== 400)) throw err;
    const errors = storeDown ? new Map([['', [STORE_DOWN]]]) : placeErrors(known!.details, formFieldNames(opts.type));
    if (known?.code === 'secrets_required') secretsRequired(errors, opts.type, known.message);
    if (errors.size === 0) errors.set('', [known!.message]);
    const token = csrfToken(res);
    const form = exportForm({ ...opts, errors, csrf: token });
    if (storeDown) res.set('Retry-After', String(REDIS_RETRY_AFTER_SECONDS));
    sendPage(res, storeDown ? 503 : 400, {
      ...form,
      csrf: token,
      trail: opts.current
        ? trail(opts.current.id, opts.current.name)
        : opts.editId
          ? trail(opts.editId, 'Export')
          : [{ href: CONSOLE_PATH, text: 'Exports' }],
    });
  }

  return router;
}

/** `secrets_required` without a field each: the message goes at every secret field of the destination. */
function secretsRequired(errors: FieldErrors, type: string, message: string): void {
  const secrets = destinationFields(type).filter((f) => f.secret);
  if (secrets.some((f) => errors.has(`destination.config.${f.key}`))) return;
  errors.delete('');
  for (const f of secrets) errors.set(`destination.config.${f.key}`, [message]);
}

function trail(id: string, name: string) {
  return [
    { href: CONSOLE_PATH, text: 'Exports' },
    { href: `${CONSOLE_PATH}/${id}`, text: name },
  ];
}

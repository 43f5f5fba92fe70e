import express, { Router } from 'express';
import { join } from 'node:path';
import type { ConsoleDeps } from './deps';
import { exportRoutes } from './export-routes';
import { singleValuedForm } from './form-body';
import { CONSOLE_PATH } from './layout';
import { consoleErrors, consoleNotFound } from './respond';
import { runRoutes } from './run-routes';

export type { ConsoleDeps } from './deps';

/** The folder of console.css and console.js (beside src/ and dist/, so both find it). */
const ASSETS_DIR = join(__dirname, '..', '..', 'console-assets');

/**
 * The web console, mounted at `/admin`: `/admin/exports`, one export at
 * `/admin/exports/:id`, one run at `/admin/exports/:id/runs/:run_id`, and the
 * create and edit forms. Same login as Bull Board (session cookie or bearer
 * token); every change needs the CSRF token.
 */
export function consoleRouter(deps: ConsoleDeps): Router {
  const router = Router();
  // The session (or bearer token), then the session's CSRF token on every change; cross-site changes are refused.
  const guard = [deps.sessions.middleware(), ...deps.sessions.csrf(), singleValuedForm];
  router.use(
    '/console-assets',
    express.static(ASSETS_DIR, {
      index: false,
      setHeaders: (res) => res.set('X-Content-Type-Options', 'nosniff').set('Cache-Control', 'no-cache'),
    }),
  );
  router.get('/', ...guard, (_req, res) => res.redirect(303, CONSOLE_PATH));
  router.use('/exports', ...guard, exportRoutes(deps), runRoutes(deps), consoleNotFound(), consoleErrors(deps.logger));
  return router;
}

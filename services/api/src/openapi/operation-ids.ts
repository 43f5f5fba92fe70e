/**
 * The operationId of every operation of the document, by `METHOD path`: a
 * generated client names its methods after them (`createExport`, not
 * `postApiExports`). A new route needs a line here; the document's lint
 * (test/integration/openapi-lint.test.ts) fails on an operation without one.
 */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  'GET /healthz': 'getHealth',
  'GET /metrics': 'getMetrics',
  'GET /api/openapi.json': 'getOpenApiDocument',
  'POST /api/exports': 'createExport',
  'GET /api/exports': 'listExports',
  'GET /api/exports/{id}': 'getExport',
  'PATCH /api/exports/{id}': 'updateExport',
  'DELETE /api/exports/{id}': 'deleteExport',
  'POST /api/exports/{id}/pause': 'pauseExport',
  'POST /api/exports/{id}/unpause': 'unpauseExport',
  'POST /api/exports/{id}/test': 'testExportDestination',
  'GET /api/exports/{id}/reconciliation': 'getReconciliation',
  'GET /api/exports/{id}/runs': 'listRuns',
  'GET /api/exports/{id}/runs/{run_id}': 'getRun',
  'GET /api/exports/{id}/runs/{run_id}/logs': 'getRunLogs',
  'POST /api/exports/{id}/runs/{run_id}/retry': 'retryRun',
  'POST /api/exports/{id}/runs/{run_id}/cancel': 'cancelRun',
  'POST /api/exports/{id}/backfills': 'createBackfill',
  'GET /api/exports/{id}/backfills': 'listBackfills',
  'GET /api/exports/{id}/backfills/{backfill_id}': 'getBackfill',
  'POST /api/exports/{id}/backfills/{backfill_id}/cancel': 'cancelBackfill',
  'GET /admin/queues': 'getBullBoard',
  'GET /admin/login': 'getAdminLoginForm',
  'POST /admin/login': 'adminLogin',
  'POST /admin/logout': 'adminLogout',
  'GET /admin/session': 'getAdminSession',
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** `doc` with each operation's operationId from OPERATION_IDS (an operation not listed keeps none). */
export function withOperationIds<T extends { paths: object }>(doc: T): T {
  const paths = Object.fromEntries(
    Object.entries(doc.paths).map(([path, item]: [string, Record<string, unknown>]) => [
      path,
      Object.fromEntries(
        Object.entries(item).map(([method, op]) => {
          const id = METHODS.includes(method) ? OPERATION_IDS[`${method.toUpperCase()} ${path}`] : undefined;
          return [method, id ? { operationId: id, ...(op as object) } : op];
        }),
      ),
    ]),
  );
  return { ...doc, paths };
}

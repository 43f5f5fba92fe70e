import { RUN_ID, RUN_STATUSES, UUID_ID } from '@bx/core';
import { DESTINATION_TYPES } from '@bx/destinations';
import { CSRF_FIELD, SESSION_COOKIE } from '../admin-session';
import { withOperationIds } from './operation-ids';
import { ref, schemas } from './schemas';

type Schema = Record<string, unknown>;

const json = (schema: Schema, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = (name: string, required = true) => ({ required, content: { 'application/json': { schema: ref(name) } } });

const ERROR_TEXT: Record<number, string> = {
  400: 'Bad input; `details` names each field',
  401: 'Missing or wrong token',
  403: 'A change by a browser session from another site, or without its CSRF token',
  404: 'Unknown export, run, backfill or route, or an id the API never gave out',
  409: 'The current state forbids it',
  413: 'Request body over 1 MB',
  415: 'Body of a type that holds no JSON (JSON is read as `application/json`, a `+json` type, `text/plain`, a form type or none; UTF-8): code `unsupported_media_type`',
  429: 'Too many wrong tokens from this client (20 a minute); `Retry-After` says when to try again',
  503: 'The store (Redis) is not reachable now (code `unavailable`); `Retry-After` says when to try again',
};
/** Error answers; every route that checks the token may also answer 429, and 503 while Redis is down. */
const errors = (...statuses: number[]) =>
  Object.fromEntries(
    [...statuses, ...(statuses.includes(401) ? [429, 503] : [])].map((s) => [
      String(s),
      json(ref('Error'), ERROR_TEXT[s]!),
    ]),
  );

const pathParam = (name: string, description: string, pattern: RegExp) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: pattern.source },
  description,
});
const exportId = pathParam('id', 'Export id (a UUID)', UUID_ID);
const runId = pathParam('run_id', 'Run id: `<export id>-YYYYMMDDTHHMMSSZ` of its interval start', RUN_ID);
const noToken: Schema[] = [];
/** A change of an export applies to it as stored when written; it gives up only under this many writers at once. */
const concurrentUpdate = {
  '409': json(
    ref('Error'),
    'The export kept changing under 100 concurrent writes (code `concurrent_update`): try again',
  ),
};
/** What any request may get before it reaches a route (Node's HTTP server answers these itself). */
const beforeRouting = {
  '4XX': { description: 'Refused by the HTTP server before routing: malformed HTTP (400), headers over 16 KiB (431)' },
};
/** Any status the operation does not list: the error handler's answer (a failure of the server, say). */
const otherwise = { default: json(ref('Error'), 'Any other status: an error') };

/**
 * The OpenAPI 3.1 document of the admin API (served at /api/openapi.json).
 * test/integration/openapi.test.ts validates real responses against it;
 * test/integration/openapi-lint.test.ts lints it with Redocly's recommended
 * rules and generates a TypeScript client from it.
 */
export const openApiDocument = withOperationIds({
  openapi: '3.1.0',
  info: {
    title: 'batch-exports admin API',
    version: '0.1.0',
    description:
      `Scheduled batch exports of events and persons from ClickHouse to ${listed(DESTINATION_TYPES)}. JSON, snake_case. ` +
      'A path below with a method it does not list answers 405 `method_not_allowed` with an `Allow` header ' +
      '(under `/api` after the token check: no token is 401 first); OPTIONS answers 204 with `Allow`.',
    license: { name: 'MIT', identifier: 'MIT' },
  },
  // Relative: the API that serves this document (`npm start` listens on PORT, 8080 by default).
  servers: [{ url: '/', description: 'The API serving this document' }],
  security: [{ bearerAuth: [] }],
  paths: {
    '/healthz': {
      get: {
        summary: 'Reachability of Redis and ClickHouse',
        description: 'Concurrent checks share one ping of each; its answer is served for 1 s.',
        security: noToken,
        responses: {
          '200': json(ref('Health'), 'Both reachable'),
          ...beforeRouting,
          '503': json(ref('Health'), 'One is down'),
        },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics (text format), read from Redis at scrape time',
        description: 'Concurrent scrapes share one reading; it is served for 2 s after it arrived.',
        security: noToken,
        responses: {
          '200': { description: 'Prometheus text', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...errors(503),
          ...beforeRouting,
        },
      },
    },
    '/api/openapi.json': {
      get: {
        summary: 'This document',
        responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1 document'), ...errors(401) },
      },
    },
    '/api/exports': {
      post: {
        summary: 'Create an export',
        description:
          'A destination that connects to a loopback, private or link-local address (after DNS resolution) is ' +
          '400 `destination_not_allowed` unless ALLOWED_PRIVATE_DESTINATIONS lists it.',
        requestBody: body('ExportCreate'),
        responses: {
          '201': json(ref('Export'), 'Created'),
          ...errors(400, 401, 413, 415),
          '409': json(ref('Error'), 'The deployment holds MAX_EXPORTS exports already (code `too_many_exports`)'),
        },
      },
      get: {
        summary: 'List exports, oldest first, a page at a time',
        description:
          'At most `limit` exports; fewer, with `next` set, when their stored text passes 4 MiB (exports with large `ca_cert`s): follow `next` until it is null.',
        parameters: [
          {
            name: 'team_id',
            in: 'query',
            schema: { type: 'integer' },
            description: 'Only this team (decimal digits only)',
          },
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            description:
              'Most exports in the page, in decimal digits (a page of large exports may stop early at about 4 MiB)',
          },
          { name: 'cursor', in: 'query', schema: { type: 'string' }, description: '`next` of the previous page' },
        ],
        responses: { '200': json(ref('ExportList'), 'A page of exports'), ...errors(400, 401) },
      },
    },
    '/api/exports/{id}': {
      parameters: [exportId],
      get: {
        summary: 'One export with its latest runs',
        responses: { '200': json(ref('ExportWithRuns'), 'The export'), ...errors(401, 404) },
      },
      patch: {
        summary: 'Change name, interval, timezone, events, end_at, destination, paused or auto_repair',
        description:
          '`destination.config` is merged over the stored one, so secrets may be left out, except when the patch ' +
          'changes where the destination connects or who it logs in as (S3 `endpoint_url`, `bucket_name`, ' +
          '`region`; Snowflake `access_url`, `account`, `user`; Postgres `host`, `port`, `database`, `user`, `sslmode`, `ca_cert`): ' +
          'then every stored secret must be given again (or null to drop it), else 400 `secrets_required`. ' +
          'A private address is 400 `destination_not_allowed`, as on create. ' +
          'The patch applies to the export as stored when it is written: a concurrent PATCH, pause or auto-pause ' +
          'of other fields is kept, not overwritten.',
        requestBody: body('ExportPatch'),
        responses: { '200': json(ref('Export'), 'Changed'), ...errors(400, 401, 404, 413, 415), ...concurrentUpdate },
      },
      delete: {
        summary:
          'Delete: at once gone from the API and the schedule; its runs, logs and jobs are removed in the background',
        responses: { '204': { description: 'Deleted' }, ...errors(401, 404) },
      },
    },
    '/api/exports/{id}/pause': {
      parameters: [exportId],
      post: {
        summary: 'Stop scheduling',
        responses: { '200': json(ref('Export'), 'Paused'), ...errors(401, 404), ...concurrentUpdate },
      },
    },
    '/api/exports/{id}/unpause': {
      parameters: [exportId],
      post: {
        summary: 'Schedule again from the current interval',
        requestBody: body('Unpause', false),
        responses: { '200': json(ref('Export'), 'Unpaused'), ...errors(400, 401, 404, 415), ...concurrentUpdate },
      },
    },
    '/api/exports/{id}/test': {
      parameters: [exportId],
      post: {
        summary: 'Check the destination can be reached and written with these credentials',
        description: 'The outcome is the answer: a destination that fails the check is still 200.',
        responses: { '200': json(ref('TestResult'), 'Outcome of the check'), ...errors(401, 404) },
      },
    },
    '/api/exports/{id}/runs': {
      parameters: [exportId],
      get: {
        summary: 'Runs, newest interval first',
        description:
          'At most `limit` runs; fewer, with `next` set, when they pass about 4 MiB (runs split into thousands of files list every key): follow `next` until it is null.',
        parameters: [
          {
            name: 'status',
            in: 'query',
            schema: { enum: [...RUN_STATUSES] },
            description:
              'Only runs in this status. A page looks at 10,000 runs at most: one that found fewer than `limit` (even none) still has a `next` while runs are left to look at',
          },
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            description: 'Most runs in the page, in decimal digits',
          },
          { name: 'cursor', in: 'query', schema: { type: 'string' }, description: '`next` of the previous page' },
          {
            name: 'start',
            in: 'query',
            schema: { type: 'string', format: 'date-time' },
            description: 'Runs whose interval starts at or after this (ISO 8601, any year 0000 to 9999)',
          },
          {
            name: 'end',
            in: 'query',
            schema: { type: 'string', format: 'date-time' },
            description: '...and before this (`9999-12-31`: no end)',
          },
        ],
        responses: { '200': json(ref('RunList'), 'A page of runs'), ...errors(400, 401, 404) },
      },
    },
    '/api/exports/{id}/reconciliation': {
      parameters: [exportId],
      get: {
        summary: 'What the reconciler last found for each exported interval in its window',
        description:
          'Every RECONCILE_EVERY_MS the scheduler re-counts the source for completed intervals that ended within RECONCILE_WINDOW_HOURS and compares count and checksum with their receipts.',
        responses: { '200': json(ref('Reconciliation'), 'Intervals, newest first'), ...errors(401, 404) },
      },
    },
    '/api/exports/{id}/runs/{run_id}': {
      parameters: [exportId, runId],
      get: {
        summary: 'One run, with its receipt once completed',
        responses: { '200': json(ref('Run'), 'The run'), ...errors(401, 404) },
      },
    },
    '/api/exports/{id}/runs/{run_id}/logs': {
      parameters: [exportId, runId],
      get: {
        summary: 'What the workers logged for this run, oldest first (its last few hundred lines)',
        responses: { '200': json(ref('RunLogs'), 'Log lines'), ...errors(401, 404) },
      },
    },
    '/api/exports/{id}/runs/{run_id}/retry': {
      parameters: [exportId, runId],
      post: {
        summary: 'Run that interval again (a new attempt of the same run)',
        responses: { '202': json(ref('Run'), 'Queued again'), ...errors(401, 404, 409) },
      },
    },
    '/api/exports/{id}/runs/{run_id}/cancel': {
      parameters: [exportId, runId],
      post: {
        summary: 'Cancel a run that has not finished',
        responses: { '200': json(ref('Run'), 'Cancelled'), ...errors(401, 404, 409) },
      },
    },
    '/api/exports/{id}/backfills': {
      parameters: [exportId],
      post: {
        summary: 'Export every interval in [start_at, end_at) again or for the first time',
        description:
          'With `dry_run: true`, answers 200 with the plan and creates nothing. More than 1,000 intervals need `confirm: true` (else 400 `confirmation_required`). Runs are started a window ahead of the workers, behind scheduled runs.',
        requestBody: body('BackfillCreate'),
        responses: {
          '200': json(ref('BackfillPlan'), 'Dry run: what the backfill would do'),
          '201': json(ref('Backfill'), 'Created; its runs start in order'),
          ...errors(400, 401, 404, 413, 415),
        },
      },
      get: {
        summary: "The export's backfills, newest first (the last 20)",
        responses: { '200': json(ref('BackfillList'), 'Backfills'), ...errors(401, 404) },
      },
    },
    '/api/exports/{id}/backfills/{backfill_id}/cancel': {
      parameters: [exportId, pathParam('backfill_id', 'Backfill id (a UUID)', UUID_ID)],
      post: {
        summary: 'Cancel a backfill: its intervals not started never start, its unfinished runs become Cancelled',
        responses: { '200': json(ref('Backfill'), 'Cancelled'), ...errors(401, 404, 409) },
      },
    },
    '/api/exports/{id}/backfills/{backfill_id}': {
      parameters: [exportId, pathParam('backfill_id', 'Backfill id (a UUID)', UUID_ID)],
      get: {
        summary: 'Progress of a backfill',
        responses: { '200': json(ref('Backfill'), 'The backfill'), ...errors(401, 404) },
      },
    },
    '/admin/queues': {
      get: {
        summary: 'Bull Board (HTML); its JSON API is under /admin/queues/api',
        description: 'Without credentials a browser is redirected to /admin/login.',
        security: [{ bearerAuth: [] }, { adminSession: [] }],
        responses: {
          '200': { description: 'Bull Board', content: { 'text/html': { schema: { type: 'string' } } } },
          '303': { description: 'To the login form (browsers without a session)' },
          ...errors(401),
        },
      },
    },
    '/admin/login': {
      get: {
        summary: 'Login form for Bull Board',
        security: noToken,
        responses: {
          '200': { description: 'Form', content: { 'text/html': { schema: { type: 'string' } } } },
          ...beforeRouting,
        },
      },
      post: {
        summary: 'Log in with the admin token; sets the session cookie',
        security: noToken,
        requestBody: {
          required: true,
          content: {
            'application/x-www-form-urlencoded': {
              schema: {
                type: 'object',
                properties: { token: { type: 'string' }, next: { type: 'string' } },
                required: ['token'],
              },
            },
          },
        },
        responses: {
          '303': { description: `Logged in; sets the ${SESSION_COOKIE} cookie and redirects to Bull Board` },
          '401': { description: 'Wrong token (HTML page)', content: { 'text/html': { schema: { type: 'string' } } } },
          '413': json(ref('Error'), 'Form over 4 KB'),
          ...errors(403, 429),
          ...otherwise,
        },
      },
    },
    '/admin/logout': {
      post: {
        summary: 'End the session on the server and clear its cookie',
        description: `Needs the session's CSRF token as the \`${CSRF_FIELD}\` form field or the X-CSRF-Token header.`,
        security: [{ adminSession: [] }],
        requestBody: {
          required: false,
          content: {
            'application/x-www-form-urlencoded': {
              schema: { type: 'object', properties: { [CSRF_FIELD]: { type: 'string' } } },
            },
          },
        },
        responses: { '303': { description: 'To the login form' }, ...errors(403), ...beforeRouting, ...otherwise },
      },
    },
    '/admin/session': {
      get: {
        summary: "The caller's session: its CSRF token for pages that post with fetch()",
        security: [{ adminSession: [] }],
        responses: {
          '200': json(
            {
              type: 'object',
              properties: { csrf_token: { type: 'string' }, expires_at: { type: 'string', format: 'date-time' } },
              required: ['csrf_token', 'expires_at'],
            },
            'The session',
          ),
          '401': json(ref('Error'), 'No session'),
          ...otherwise,
        },
      },
    },
  },
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_TOKEN' },
      adminSession: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'Set by POST /admin/login' },
    },
    schemas,
  },
} as const);

/** `S3`, `S3 and Snowflake`, `S3, Snowflake and Postgres`. */
function listed(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

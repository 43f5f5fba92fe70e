// A loopback fake of Snowflake's REST protocol, good enough for the real snowflake-sdk (3.3.0)
// pointed at it with `accessUrl: server.url`. State (tables, rows, table stages, load metadata,
// sessions, transactions) is real and in memory; staged files live in a per-server temp dir.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Engine, type LoadRecord, type Session, type Table } from './lib/engine';
import { Faults } from './lib/faults';
import { syntaxError } from './lib/lexer';
import type { Bindings } from './lib/parser';
import { okEmpty, queryFail } from './lib/protocol';
import { Service, type Reply } from './lib/service';
import { listStage } from './lib/stage';
import { cellForTest } from './lib/values';

export { Faults } from './lib/faults';
export { fingerprint } from './lib/auth';

export interface SnowflakeServerOptions {
  account?: string; // if set, key-pair JWTs must be issued for this account
  users?: Record<string, string>; // login name -> password; default { test: 'test' }
  publicKeys?: Record<string, string | string[]>; // login name -> PEM (SPKI) public key(s)
  databases?: Record<string, string[]>; // when given, only these databases/schemas exist
  port?: number; // default: ephemeral
  dedupeRequestIds?: boolean; // answer a retried requestId from cache (default true)
  // false: COPY decompresses each file and counts its rows (non-blank lines) without parsing or
  // keeping them, for loads too big to hold in memory (the benchmark). Default true.
  keepLoadedRows?: boolean;
}

export interface QueryLogEntry {
  sql: string;
  requestId?: string;
  retryCount: number; // set by the SDK's retry middleware on retried requests
  sessionId?: number;
  outcome: 'pending' | 'ok' | 'error' | 'deduplicated' | 'crashed' | 'dropped' | 'http-error' | 'abandoned';
  code?: string;
  at: number; // performance.now() when the request arrived (a benchmark in the same process times by it)
}

export interface SnowflakeServer {
  url: string;
  port: number;
  stageRoot: string;
  faults: Faults;
  readonly queries: string[]; // every SQL text received, retries included
  queryLog: QueryLogEntry[];
  requests: { method: string; path: string; status?: number }[];
  logins: Record<string, unknown>[]; // login-request bodies as received
  telemetry: unknown[];
  tables(): string[];
  columns(table: string): { name: string; type: string }[];
  rows(table: string): Record<string, unknown>[];
  stagedFiles(table: string): string[];
  loadHistory(table: string): (LoadRecord & { file: string })[];
  sessions(): { id: number; user: string; database?: string; inTransaction: boolean }[];
  close(): Promise<void>;
}

const readBody = async (req: http.IncomingMessage): Promise<Record<string, unknown>> => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let raw = Buffer.concat(chunks);
  // The SDK means to gzip JSON bodies, but compresses asynchronously after building the request,
  // so in practice bodies arrive plain; trust the gzip magic bytes rather than the header.
  if (raw.length > 2 && raw[0] === 0x1f && raw[1] === 0x8b) raw = zlib.gunzipSync(raw);
  return raw.length ? (JSON.parse(raw.toString('utf8')) as Record<string, unknown>) : {};
};

export async function startSnowflakeServer(opts: SnowflakeServerOptions = {}): Promise<SnowflakeServer> {
  const stageRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-testbed-'));
  const engine = new Engine(stageRoot, !!opts.databases, opts.keepLoadedRows ?? true);
  for (const [db, schemas] of Object.entries(opts.databases ?? {})) {
    engine.ensureSchema(db);
    for (const s of schemas) engine.ensureSchema(db, s);
  }
  const faults = new Faults();
  const authCfg = {
    users: opts.users ?? { test: 'test' },
    publicKeys: opts.publicKeys ?? {},
    account: opts.account,
  };
  const service = new Service(engine, authCfg, faults, !!opts.databases);
  const dedupe = opts.dedupeRequestIds ?? true;
  const queryLog: QueryLogEntry[] = [];
  const requests: SnowflakeServer['requests'] = [];
  const telemetry: unknown[] = [];
  const byRequestId = new Map<string, Reply>();
  const byQueryId = new Map<string, Reply>();
  let closing = false;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const arrived = performance.now();
    let gone = false;
    // Settles when the client goes away before its answer is written: a held request ends there.
    const clientGone = new Promise<void>((resolve) =>
      res.on('close', () => {
        gone = !res.writableFinished;
        if (gone) resolve();
      }),
    );
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req);
    const reqEntry: SnowflakeServer['requests'][number] = {
      method: req.method ?? '',
      path: url.pathname + url.search,
    };
    requests.push(reqEntry);
    const send = (status: number, payload: object | string) => {
      reqEntry.status = status;
      const json = typeof payload !== 'string';
      res.writeHead(status, { 'Content-Type': json ? 'application/json' : 'text/plain' });
      res.end(json ? JSON.stringify(payload) : payload);
    };
    const entry: QueryLogEntry | undefined =
      url.pathname === '/queries/v1/query-request'
        ? {
            sql: String(body.sqlText ?? ''),
            requestId: url.searchParams.get('requestId') ?? undefined,
            retryCount: Number(url.searchParams.get('retryCount') ?? 0),
            outcome: 'pending',
            at: arrived,
          }
        : undefined;
    if (entry) queryLog.push(entry);

    const info = { path: reqEntry.path, sql: entry?.sql };
    const status = faults.httpStatusFor(info);
    if (status) {
      if (entry) entry.outcome = 'http-error';
      return send(status, `${status} ${http.STATUS_CODES[status] ?? ''}`);
    }
    await faults.maybeStall(info, clientGone);
    if (gone || closing) {
      // The client gave up (its timeout fired) while we stalled: like a request lost in the
      // network, it is never executed.
      if (entry) entry.outcome = 'abandoned';
      return void res.destroy();
    }

    if (url.pathname === '/session/v1/login-request') {
      return send(200, service.login(body, url.searchParams));
    }
    if (url.pathname === '/telemetry/send') return (telemetry.push(body), send(200, okEmpty()));
    const s = service.sessionFor(req.headers.authorization);
    if (!('params' in s)) {
      if (entry) Object.assign(entry, { outcome: 'error', code: s.code });
      return send(200, s);
    }
    if (url.pathname === '/session' && url.searchParams.get('delete') === 'true') {
      service.closeSession(s);
      return send(200, okEmpty());
    }
    if (['/session/heartbeat', '/queries/v1/abort-request'].includes(url.pathname)) {
      return send(200, okEmpty());
    }
    const result = /^\/queries\/([^/]+)\/result$/.exec(url.pathname);
    if (result) {
      const missing = {
        code: '000709',
        sqlState: '02000',
        message: `Statement ${result[1]} not found`,
      };
      return send(200, byQueryId.get(result[1]!) ?? queryFail(missing, result[1]!));
    }
    if (!entry) return send(404, 'Not Found');
    entry.sessionId = s.id;
    return runQuery(s, entry, body, send, res);
  }

  function runQuery(
    s: Session,
    entry: QueryLogEntry,
    body: Record<string, unknown>,
    send: (status: number, payload: object) => void,
    res: http.ServerResponse,
  ): void {
    // Snowflake recognises a retried request (same requestId) and returns the first answer
    // instead of running the statement again.
    const cached = dedupe && entry.requestId ? byRequestId.get(entry.requestId) : undefined;
    if (cached) {
      entry.outcome = 'deduplicated';
      return send(200, cached);
    }
    const queryId = crypto.randomUUID();
    let out: Reply;
    const injected = faults.queryErrorFor(entry.sql);
    if (injected) {
      const message = injected.message ?? 'SQL compilation error:\nObject does not exist or not authorized.';
      const err = { code: injected.code ?? '002003', sqlState: injected.sqlState ?? '42S02' };
      out = queryFail({ ...err, message }, queryId);
    } else if (body.asyncExec || body.describeOnly) {
      out = queryFail(syntaxError(entry.sql, 0, 'asyncExec', 'not modelled'), queryId);
    } else {
      out = service.execute(s, entry.sql, body.bindings as Bindings | undefined, queryId);
    }
    const crash = out.success ? faults.crashFor(entry.sql) : undefined;
    if (crash?.mode === 'drop') {
      // Effects are applied and the answer is remembered for a retry, but never delivered.
      if (entry.requestId) byRequestId.set(entry.requestId, out);
      entry.outcome = 'dropped';
      return void res.socket?.destroy();
    }
    if (crash) {
      const message = crash.message ?? 'SQL execution internal error:\nProcessing aborted due to error 300010.';
      const err = { code: crash.code ?? '000603', sqlState: crash.sqlState ?? 'XX000' };
      out = queryFail({ ...err, message }, queryId);
    }
    entry.outcome = crash ? 'crashed' : out.success ? 'ok' : 'error';
    entry.code = out.code ?? undefined;
    if (entry.requestId) byRequestId.set(entry.requestId, out);
    byQueryId.set(queryId, out);
    send(200, out);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`snowflake test bed internal error: ${err.stack}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  // Test-side lookup: "db.schema.table", "schema.table" or "table" (exact, case-sensitive).
  const findTable = (name: string): Table => {
    const parts = name.split('.');
    const hits = engine.tables.filter((t) => {
      const full = [t.db, t.schema, t.name];
      return parts.every((p, i) => p === full[full.length - parts.length + i]);
    });
    if (hits.length !== 1) throw new Error(`table ${name}: ${hits.length} matches`);
    return hits[0]!;
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stageRoot,
    faults,
    get queries() {
      return queryLog.map((q) => q.sql);
    },
    queryLog,
    requests,
    logins: service.logins,
    telemetry,
    tables: () => engine.tables.map((t) => `${t.db}.${t.schema}.${t.name}`),
    columns: (name) => findTable(name).columns.map((c) => ({ name: c.name, type: c.type })),
    rows: (name) => {
      const t = findTable(name);
      return t.rows.map((r) => Object.fromEntries(t.columns.map((c, i) => [c.name, cellForTest(r[i] ?? null)])));
    },
    stagedFiles: (name) => listStage(findTable(name)),
    loadHistory: (name) => [...findTable(name).loadHistory].map(([file, r]) => ({ file, ...r })),
    sessions: () =>
      service.activeSessions().map((s) => ({
        id: s.id,
        user: s.user,
        database: s.database,
        inTransaction: !!s.txn,
      })),
    close: async () => {
      closing = true;
      faults.releaseStalled();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(stageRoot, { recursive: true, force: true });
    },
  };
}

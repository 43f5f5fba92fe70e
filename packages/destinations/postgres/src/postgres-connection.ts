import { BatchExportError, RetryableError, type NetworkPolicy } from '@bx/core';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import { Client, type QueryResultRow } from 'pg';
import { from as copyFrom, type CopyStreamQuery } from 'pg-copy-streams';
import type { PostgresConfig } from './postgres-config';
import { MAX_ANSWER_BYTES, guardMessageSizes } from './message-size-guard';
import { classifyPostgresError } from './postgres-errors';
import { ServerWatch } from './server-watch';

export interface SessionSettings {
  /** Longest wait for the host's lookup, the TCP connection, TLS and login together, in ms. */
  connectMs: number;
  /** `lock_timeout`: longest wait for a lock on the table or the interval's rows, in ms; then the statement fails (55P03, retryable). */
  lockMs: number;
  /** `statement_timeout` in ms; 0 for none (a run's COPY lasts as long as the interval's rows take). */
  statementMs: number;
  /** `application_name`: who holds a session, in pg_stat_activity. */
  applicationName: string;
  /** Which addresses the session may reach (ALLOWED_PRIVATE_DESTINATIONS); checked after resolving `host`. */
  network?: NetworkPolicy;
  /** Most bytes of answers other than notices the server may send over the session (default MAX_ANSWER_BYTES; Infinity: no cap). */
  maxAnswerBytes?: number;
  /**
   * After this long without a byte from the server, a new session checks it still answers
   * (ServerWatch); a hung one ends this session. Default SERVER_QUIET_MS; 0: never checked.
   */
  quietMs?: number;
  /** Called on every byte the server sends on the raw connection, TLS handshake and login included (ServerWatch's probe). */
  onServerBytes?: () => void;
}

/** How long a session waits on a silent server before checking that it still answers, in ms. */
export const SERVER_QUIET_MS = 60_000;

/**
 * Login failures of an address that was not reached (refused, reset, silent
 * past its share of the budget): the next address of the host may answer.
 */
const UNREACHED = new Set(['NetworkError', 'Timeout', 'ConnectionError']);

/** How long closing a connection may take, in ms: a dead server must not hold the run. */
const CLOSE_WAIT_MS = 5000;

/**
 * TLS options for `sslmode` (libpq's meanings; `require` with `ca_cert` checks
 * the chain as libpq's verify-ca). The session may connect to the address a
 * host name resolved to: the certificate is still checked against the name.
 */
export function tlsOptions(config: Pick<PostgresConfig, 'host' | 'sslmode' | 'ca_cert'>): false | ConnectionOptions {
  const ca = config.ca_cert ?? undefined;
  const name = config.host.replace(/^\[(.*)\]$/, '$1');
  const byName =
    isIP(name) === 0
      ? {
          servername: name,
          checkServerIdentity: (_: string, cert: Parameters<typeof checkServerIdentity>[1]) =>
            checkServerIdentity(name, cert),
        }
      : {};
  switch (config.sslmode) {
    case 'disable':
      return false;
    case 'require':
      return ca ? { ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false };
    case 'verify-full':
      return ca ? { ca, ...byName } : byName;
  }
}

/**
 * `resolve(host)`, given up after `ms` (a resolver that never answers must
 * not hold the run: Node's DNS lookup has no timeout of its own) or when
 * `signal` aborts. The lookup itself cannot be cancelled; its late answer is
 * ignored.
 */
export async function lookupWithin<T>(
  host: string,
  resolve: (host: string) => Promise<T>,
  ms: number,
  signal?: AbortSignal,
): Promise<T> {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
  const timeout = `PostgreSQL login failed: timeout expired looking up ${host} after ${ms} ms (POSTGRES_CONNECT_TIMEOUT_MS)`;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const givenUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RetryableError(timeout, { code: 'Timeout' })), ms);
    onAbort = () => reject(signal?.reason ?? new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([resolve(host), givenUp]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** The driver's connection, whose parser is attached to the socket (or, with TLS, to the TLS stream over it). */
interface DriverConnection {
  attachListeners(stream: Readable): void;
}

/**
 * Caps the size of each message the server sends (MAX_BACKEND_MESSAGE_BYTES)
 * and of its answers other than notices together (`maxTotal`), before login
 * as after: the guard goes on every stream the driver parses.
 */
function guardMessages(client: Client, maxTotal: number, onData: () => void): void {
  const connection = (client as unknown as { connection: DriverConnection }).connection;
  const attach = connection.attachListeners.bind(connection);
  connection.attachListeners = (stream) => {
    guardMessageSizes(stream, undefined, maxTotal);
    stream.on('data', onData);
    attach(stream);
  };
}

/**
 * One session of the real `pg` driver: statements as promises, errors
 * classified (RetryableError / PermanentError) with PostgreSQL's message, and
 * the run's abort signal ending the connection (the server then rolls back
 * an open transaction). After any error the session is closed, not reused.
 */
export class PostgresConnection {
  private failure: unknown = null;
  private closed = false;
  private watch: ServerWatch | null = null;

  private constructor(
    private readonly client: Client,
    private readonly signal?: AbortSignal,
  ) {}

  /**
   * Logs in to `config.host`. With a network policy the name is resolved
   * and checked here, and each address tried in turn (as libpq does with a
   * host of several addresses) until one answers: an address that refuses,
   * resets or stays silent gives way to the next; a server's answer (a
   * refused login, say) or a refused certificate ends the attempt. One
   * budget, `connectMs`, covers the lookup and every address: each address
   * gets an equal share of what is left, so a silent first one cannot use it
   * all. The TLS server name stays the host name.
   */
  static async open(
    config: PostgresConfig,
    settings: SessionSettings,
    signal?: AbortSignal,
  ): Promise<PostgresConnection> {
    const name = config.host.replace(/^\[(.*)\]$/, '$1'); // `[::1]`, as in a URL, is the address ::1
    const deadline = Date.now() + settings.connectMs;
    let addresses = [name];
    try {
      // Resolved and checked here, and connected to by address: the address checked is the one reached.
      const network = settings.network;
      if (network)
        addresses = await lookupWithin(
          config.host,
          (host) => network.resolveChecked(host, config.port),
          settings.connectMs,
          signal,
        );
    } catch (err) {
      throw err instanceof BatchExportError ? err : classifyPostgresError(err, 'login');
    }
    const failures: string[] = [];
    for (const [i, address] of addresses.entries()) {
      const share = (deadline - Date.now()) / (addresses.length - i);
      const attempt = await PostgresConnection.connect(config, settings, address, share, signal);
      if (attempt instanceof PostgresConnection) return attempt;
      failures.push(`${address}: ${(attempt.cause as Error | undefined)?.message ?? attempt.message}`);
      if (i === addresses.length - 1 || signal?.aborted || !UNREACHED.has(attempt.code)) {
        if (addresses.length > 1) attempt.message += ` (addresses of ${name} tried: ${failures.join('; ')})`;
        throw attempt;
      }
    }
    throw new Error('unreachable: a host resolves to at least one address');
  }

  /** One address's connection within `ms`: the session, or the classified error it failed with. */
  private static async connect(
    config: PostgresConfig,
    settings: SessionSettings,
    host: string,
    ms: number,
    signal?: AbortSignal,
  ): Promise<PostgresConnection | BatchExportError> {
    const client = new Client({
      host,
      port: config.port,
      database: config.database,
      user: config.user,
      password: config.password,
      ssl: tlsOptions(config),
      // What the lookup and earlier addresses left of the budget (0 would mean no limit to pg).
      connectionTimeoutMillis: Math.max(1, Math.floor(ms)),
      keepAlive: true,
      keepAliveInitialDelayMillis: 30_000,
      lock_timeout: settings.lockMs,
      statement_timeout: settings.statementMs || undefined,
      application_name: settings.applicationName,
    });
    const conn = new PostgresConnection(client, signal);
    const onServerBytes = settings.onServerBytes;
    if (onServerBytes) {
      // The raw socket (the TLS stream, when there is one, is wrapped over it later).
      (client as unknown as { connection: { stream: Readable } }).connection.stream.on('data', () => onServerBytes());
    }
    // Each message at most 1 MiB, and the session's answers other than notices at most 64 MiB.
    guardMessages(client, settings.maxAnswerBytes ?? MAX_ANSWER_BYTES, () => conn.watch?.heard());
    // A connection lost between statements: recorded, and the next call fails with it.
    client.on('error', (err) => (conn.failure ??= err));
    signal?.addEventListener('abort', conn.onAbort, { once: true });
    try {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      await client.connect();
    } catch (err) {
      await conn.close();
      return classifyPostgresError(err, 'login');
    }
    const quietMs = settings.quietMs ?? SERVER_QUIET_MS;
    if (quietMs > 0) {
      conn.watch = new ServerWatch(
        quietMs,
        () => serverSpeaks(config, { ...settings, applicationName: 'bx probe', quietMs: 0 }),
        (hung) => conn.end(hung),
      );
    }
    return conn;
  }

  /** Runs one statement with bound parameters. */
  async query<T extends QueryResultRow = QueryResultRow>(
    sql: string,
    action: string,
    params: unknown[] = [],
  ): Promise<{ rows: T[]; rowCount: number }> {
    this.usable(action);
    try {
      const result = await this.client.query<T>(sql, params);
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    } catch (err) {
      throw classifyPostgresError(this.failure ?? err, action);
    }
  }

  /** Starts `COPY ... FROM STDIN`: the stream to write its data to (errors are the driver's, unclassified). */
  copyIn(sql: string, action: string): CopyStreamQuery {
    this.usable(action);
    return this.client.query(copyFrom(sql));
  }

  /** The error a COPY failed with, classified: the connection's own failure first (the stream's is often a consequence). */
  classify(err: unknown, action: string): Error {
    return classifyPostgresError(this.failure ?? err, action);
  }

  /** Ends the session (the server rolls back an open transaction). Never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch?.stop();
    this.signal?.removeEventListener('abort', this.onAbort);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    await Promise.race([this.client.end().catch(() => undefined), deadline]);
    clearTimeout(timer);
    // Still open after the wait (a dead server): drop the socket.
    (this.client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }

  private usable(action: string): void {
    if (this.failure || this.closed) {
      throw classifyPostgresError(this.failure ?? new Error('connection closed'), action);
    }
  }

  private readonly onAbort = () => this.end(new RetryableError('run aborted', { code: 'Aborted' }));

  /** Drops the connection: what waits on it fails with `why` (the server rolls back). */
  private end(why: RetryableError): void {
    this.failure ??= why;
    (this.client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }
}

/**
 * Opens one more connection and waits, within `connectMs`, for the server to say anything on
 * it (TLS, a login request, an error): null if it did, otherwise why it is taken as not heard
 * (the connection could not be opened, or not one byte came). Whether the login completes
 * or a statement would be answered soon does not matter (a pooler may queue it). A verdict
 * that comes well past the budget (this process was paused, not the server) is no verdict.
 */
async function serverSpeaks(config: PostgresConfig, settings: SessionSettings): Promise<string | null> {
  const started = Date.now();
  let spoke = false;
  let onSpoke!: () => void;
  const heard = new Promise<null>((resolve) => (onSpoke = () => ((spoke = true), resolve(null))));
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<string>((resolve) => {
    // Past the timers, bytes that arrived meanwhile are read first (setImmediate runs after the poll).
    timer = setTimeout(
      () => setImmediate(() => resolve(`not one byte within ${settings.connectMs} ms`)),
      settings.connectMs,
    );
  });
  const opened = PostgresConnection.open(config, { ...settings, onServerBytes: onSpoke });
  const failed = opened.then(
    () => null,
    (err: Error) => (spoke ? null : `could not connect: ${err.message}`),
  );
  try {
    const miss = await Promise.race([heard, failed, silent]);
    const paused = Date.now() - started > settings.connectMs * 1.5 + 1000;
    return miss === null || paused ? null : miss;
  } finally {
    clearTimeout(timer);
    void opened.then((conn) => conn.close()).catch(() => undefined);
  }
}

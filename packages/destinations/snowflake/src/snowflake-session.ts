import { createPrivateKey } from 'node:crypto';
import { PermanentError, RetryableError, type NetworkPolicy } from '@bx/core';
import { SessionAgents } from './snowflake-agents';
import type { SnowflakeConfig } from './snowflake-config';
import { classifySnowflakeError, type SnowflakePhase } from './snowflake-errors';
import {
  loadSnowflakeSdk,
  type SdkBinds,
  type SdkColumn,
  type SdkConnection,
  type SdkConnectionOptions,
  type SdkStatement,
} from './snowflake-sdk';
import { objectIdentifier } from './sql-text';

export interface SessionTimeouts {
  /**
   * Longest the login or one statement may take, in ms, the SDK's own retries
   * included. The SDK retries 5xx and stalled requests up to 1000 times with no
   * setting to lower that, so without this a Snowflake that keeps answering 503
   * would hold a run for hours.
   */
  statementMs: number;
  /** The SDK's per-HTTP-request timeout in ms (`timeout`); it retries a request that takes longer. */
  requestMs: number;
  /** Login attempts the SDK makes on network errors and 5xx (`sfRetryMaxLoginRetries`). */
  loginRetries: number;
}

/** How long closing a session may take, in ms: a dead endpoint must not hold the run. */
const CLOSE_WAIT_MS = 5000;

type Done<T> = (err: unknown, value?: T) => void;

/**
 * One logged-in Snowflake session of the real snowflake-sdk, as promises with
 * a deadline per call and the run's abort signal. Errors come out classified
 * (RetryableError / PermanentError) with Snowflake's message. After a call
 * times out or is aborted, the session is not used again: the statement may
 * still be running, so the caller closes the session (which rolls back an open
 * transaction) and the next attempt starts afresh.
 */
export class SnowflakeSession {
  private broken = false;

  private constructor(
    private readonly conn: SdkConnection,
    private readonly timeouts: SessionTimeouts,
    private readonly signal?: AbortSignal,
    private readonly agents?: SessionAgents,
  ) {}

  /** Logs in; with `network`, every connection of the session is held to the policy. */
  static async open(
    config: SnowflakeConfig,
    timeouts: SessionTimeouts,
    signal?: AbortSignal,
    network?: NetworkPolicy,
  ): Promise<SnowflakeSession> {
    const sdk = loadSnowflakeSdk();
    const agents = network ? new SessionAgents(network) : undefined;
    let conn: SdkConnection;
    try {
      const options = connectionOptions(config, timeouts);
      if (agents) Object.assign(options, { agentClass: agents.agentClass });
      conn = sdk.createConnection(options);
    } catch (err) {
      agents?.destroy();
      throw classifySnowflakeError(err, 'login', 'login');
    }
    const session = new SnowflakeSession(conn, timeouts, signal, agents);
    try {
      await session.call<void>('login', 'login', (done) => {
        conn.connect((err) => done(err));
      });
    } catch (err) {
      await session.close();
      throw err;
    }
    return session;
  }

  /** Runs one statement; rows as objects keyed by column name. */
  async query<T = Record<string, unknown>>(sqlText: string, action: string, binds?: SdkBinds): Promise<T[]> {
    return this.call<T[]>(action, 'statement', (done) => {
      const stmt = this.conn.execute({
        sqlText,
        binds,
        complete: (err, _stmt, rows) => done(err, (rows ?? []) as T[]),
      });
      return () => stmt.cancel(() => undefined);
    });
  }

  /**
   * Runs one statement and hands its rows to `onRow` as they stream in (the
   * SDK's streamRows), without holding the result in memory.
   */
  async each<T = Record<string, unknown>>(
    sqlText: string,
    action: string,
    binds: SdkBinds | undefined,
    onRow: (row: T) => void,
  ): Promise<void> {
    return this.call<void>(action, 'statement', (done) => {
      const stmt = this.conn.execute({
        sqlText,
        binds,
        streamResult: true,
        complete: (err, s) => {
          if (err) return done(err);
          (s as SdkStatement)
            .streamRows()
            .on('data', (row: T) => {
              try {
                onRow(row);
              } catch (e) {
                done(e);
              }
            })
            .on('error', (e: unknown) => done(e))
            .on('end', () => done(null));
        },
      });
      return () => stmt.cancel(() => undefined);
    });
  }

  /** Runs one statement and answers the columns of its result (names and types). */
  async columns(sqlText: string, action: string): Promise<SdkColumn[]> {
    return this.call<SdkColumn[]>(action, 'statement', (done) => {
      const stmt = this.conn.execute({
        sqlText,
        complete: (err, s) => done(err, err ? [] : ((s as SdkStatement).getColumns() ?? [])),
      });
      return () => stmt.cancel(() => undefined);
    });
  }

  /** Whether statements may still be sent (no call timed out or was aborted). */
  get usable(): boolean {
    return !this.broken;
  }

  /** Logs out; Snowflake rolls back a transaction left open. Never throws. */
  async close(): Promise<void> {
    await this.destroy();
    this.agents?.destroy();
  }

  private async destroy(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      try {
        this.conn.destroy(() => {
          clearTimeout(timer);
          resolve();
        });
      } catch {
        // Never connected: nothing to log out of.
        clearTimeout(timer);
        resolve();
      }
    });
  }

  /**
   * Settles an SDK callback call, or gives up at the deadline or on abort;
   * `start` returns how to cancel the call when given up.
   */
  private call<T>(action: string, phase: SnowflakePhase, start: (done: Done<T>) => (() => void) | void): Promise<T> {
    if (this.broken) {
      return Promise.reject(
        new RetryableError(`Snowflake ${action} not sent: the session gave up on an earlier statement`, {
          code: 'SessionAbandoned',
        }),
      );
    }
    if (this.signal?.aborted) return Promise.reject(aborted(action));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let cancel: (() => void) | void;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const giveUp = (error: Error) =>
        settle(() => {
          this.broken = true;
          try {
            cancel?.();
          } catch {
            // Best effort: the session is closed next anyway.
          }
          reject(error);
        });
      const timer = setTimeout(
        () =>
          giveUp(
            new RetryableError(`Snowflake ${action} did not finish within ${this.timeouts.statementMs} ms`, {
              code: 'Timeout',
            }),
          ),
        this.timeouts.statementMs,
      );
      const onAbort = () => giveUp(aborted(action));
      this.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        cancel = start((err, value) =>
          settle(() => (err ? reject(classifySnowflakeError(err, action, phase)) : resolve(value as T))),
        );
      } catch (err) {
        settle(() => reject(classifySnowflakeError(err, action, phase)));
      }
    });
  }
}

/**
 * USE the config's warehouse, database and schema. USE fails with
 * Snowflake's own "does not exist or not authorized" where a login with an
 * unknown warehouse or database silently leaves none current.
 */
export async function useContext(
  session: SnowflakeSession,
  config: Pick<SnowflakeConfig, 'warehouse' | 'database' | 'schema'>,
): Promise<void> {
  await session.query(`USE WAREHOUSE ${objectIdentifier(config.warehouse)}`, 'USE WAREHOUSE');
  await session.query(`USE DATABASE ${objectIdentifier(config.database)}`, 'USE DATABASE');
  await session.query(`USE SCHEMA ${objectIdentifier(config.schema)}`, 'USE SCHEMA');
}

function aborted(action: string): RetryableError {
  return new RetryableError(`Snowflake ${action} abandoned: the run was cancelled or the worker is stopping`, {
    code: 'Aborted',
  });
}

/** The SDK's connection options for an export; `account` always, or the SDK guesses it from the URL's host. */
export function connectionOptions(config: SnowflakeConfig, timeouts: SessionTimeouts): SdkConnectionOptions {
  const options: SdkConnectionOptions = {
    account: config.account,
    username: config.user,
    warehouse: objectIdentifier(config.warehouse),
    database: objectIdentifier(config.database),
    schema: objectIdentifier(config.schema),
    timeout: timeouts.requestMs,
    sfRetryMaxLoginRetries: timeouts.loginRetries,
    // Streaming a big interval from ClickHouse can leave the session idle for long.
    clientSessionKeepAlive: true,
  };
  if (config.access_url) options.accessUrl = config.access_url;
  if (config.role) options.role = objectIdentifier(config.role);
  if (config.private_key) {
    options.authenticator = 'SNOWFLAKE_JWT';
    options.privateKey = readPrivateKey(config.private_key, config.private_key_passphrase);
  } else {
    options.authenticator = 'SNOWFLAKE';
    options.password = config.password ?? '';
  }
  return options;
}

/**
 * The private key as unencrypted PKCS#8 PEM, which the SDK signs its JWT with.
 * Reading it here gives a clear permanent error for a bad key or passphrase
 * instead of the SDK's, and accepts a PKCS#1 key as well.
 */
export function readPrivateKey(pem: string, passphrase?: string | null): string {
  try {
    return createPrivateKey({ key: pem, format: 'pem', passphrase: passphrase ?? undefined })
      .export({ type: 'pkcs8', format: 'pem' })
      .toString();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new PermanentError(
      `private_key cannot be read${passphrase ? ' with private_key_passphrase' : ''}: ${reason}`,
      {
        code: 'InvalidPrivateKey',
      },
    );
  }
}

import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { UnreachableError, type Config } from '@bx/core';

/** The variables that say where ClickHouse is and as whom to connect. */
export type ClickHouseConfig = Pick<
  Config,
  | 'CLICKHOUSE_URL'
  | 'CLICKHOUSE_USER'
  | 'CLICKHOUSE_PASSWORD'
  | 'CLICKHOUSE_QUERY_TIMEOUT_MS'
  | 'CLICKHOUSE_IDLE_TIMEOUT_MS'
>;

export interface ClickHousePingOptions {
  url: string;
  username: string;
  password: string;
  /** Longest wait for an answer, in ms. */
  requestTimeoutMs: number;
}

/**
 * Progress headers keep a long query's connection alive through proxies
 * with idle timeouts; a long interval keeps the header count small.
 */
export const QUERY_SETTINGS = {
  send_progress_in_http_headers: 1,
  http_headers_progress_interval_ms: '110000',
} as const;

/** `host:port` of a ClickHouse URL, for messages: never its credentials or path. */
export function clickHouseAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`;
  } catch {
    return 'an invalid URL';
  }
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * The error to report when a request to ClickHouse at `url` failed with
 * `err`: an UnreachableError naming CLICKHOUSE_URL and the address when no
 * connection could be made (refused, unknown host, no route), else undefined.
 */
export function clickHouseUnreachable(url: string, err: unknown): UnreachableError | undefined {
  const e = err as { code?: string; message?: string; cause?: { code?: string } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  if (!code || !CONNECT_CODES.has(code)) return undefined;
  return new UnreachableError('ClickHouse', 'CLICKHOUSE_URL', clickHouseAddress(url), e?.message ?? code);
}

/**
 * Whether ClickHouse answers: the API's health check. Its own entry point
 * (`@bx/clickhouse/ping`) so that the API never loads the source's reader
 * and the native code it uses.
 */
export class ClickHousePing {
  private readonly client: ClickHouseClient;
  private readonly url: string;

  static fromConfig(config: ClickHouseConfig, overrides: Partial<ClickHousePingOptions> = {}): ClickHousePing {
    return new ClickHousePing({
      url: config.CLICKHOUSE_URL,
      username: config.CLICKHOUSE_USER,
      password: config.CLICKHOUSE_PASSWORD,
      requestTimeoutMs: config.CLICKHOUSE_QUERY_TIMEOUT_MS,
      ...overrides,
    });
  }

  constructor(opts: ClickHousePingOptions) {
    this.url = opts.url;
    this.client = createClient({
      url: opts.url,
      username: opts.username,
      password: opts.password,
      request_timeout: opts.requestTimeoutMs,
      compression: { response: false, request: false },
      // Errors are mapped and logged by the caller as JSON; the client's own text logs would duplicate them.
      log: { level: ClickHouseLogLevel.OFF },
      // The client only pings (queries go through queryRowBinary); the same settings keep it from warning.
      clickhouse_settings: QUERY_SETTINGS,
    });
  }

  async ping(): Promise<boolean> {
    const result = await this.client.ping();
    return result.success;
  }

  /**
   * Throws an UnreachableError naming CLICKHOUSE_URL and the address when
   * ClickHouse does not answer: one line, not the client's error objects.
   */
  async assertReachable(): Promise<void> {
    const result = await this.client.ping();
    if (result.success) return;
    const err = result.error as Error & { code?: string };
    throw (
      clickHouseUnreachable(this.url, err) ??
      new UnreachableError('ClickHouse', 'CLICKHOUSE_URL', clickHouseAddress(this.url), err.message || String(err))
    );
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { QueryEndpoint } from './http-query';
import { ClickHouseHttpError } from './response-batches';
import { quoteString } from './sql-escape';

/**
 * The types of a table's columns (name → type, as ClickHouse writes them:
 * `DateTime64(6, 'UTC')`), read from system.columns, which 18.16 and modern
 * servers both have; empty when ClickHouse knows no such table (the query
 * that follows says so). Sent like the events query (the endpoint's URL,
 * credentials and TLS options), with `FORMAT JSONEachRow`.
 */
export async function columnTypes(
  endpoint: QueryEndpoint,
  database: string,
  table: string,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<Map<string, string>> {
  const sql =
    `SELECT name, type FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(table)}` +
    ' FORMAT JSONEachRow';
  const text = await post(endpoint, sql, opts);
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const { name, type } = JSON.parse(line) as { name: string; type: string };
    types.set(name, type);
  }
  return types;
}

function post(
  endpoint: QueryEndpoint,
  sql: string,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<string> {
  const url = new URL(endpoint.url);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        auth: `${endpoint.username}:${endpoint.password}`,
        headers: { 'Content-Type': 'text/plain; charset=UTF-8', 'User-Agent': 'bx-batch-exports' },
        timeout: opts.timeoutMs,
        signal: opts.signal,
        ...(url.protocol === 'https:' ? endpoint.tls : {}),
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) return resolve(text);
          const code = res.headers['x-clickhouse-exception-code'];
          reject(new ClickHouseHttpError(text.trim() || `HTTP ${res.statusCode}`, res.statusCode ?? 0, code as string));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`ClickHouse did not answer within ${opts.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(sql);
  });
}

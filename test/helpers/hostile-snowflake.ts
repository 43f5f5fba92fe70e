import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SnowflakeServer } from './snowflake';

/** Changes a JSON answer of the test bed in place; `sql` is the statement's text, when the request ran one. */
export type AnswerRewrite = (answer: { data?: Record<string, any> }, sql: string | null) => void;

/**
 * A token holder's own "Snowflake": the loopback test bed behind a proxy
 * that rewrites its JSON answers, the way a server of theirs at an
 * `access_url` could answer anything. `url` is `http://localhost:PORT`.
 */
export class HostileSnowflake {
  private server: Server | null = null;
  port = 0;

  constructor(
    private readonly target: SnowflakeServer,
    private readonly rewrite: AnswerRewrite,
  ) {}

  get url(): string {
    return `http://localhost:${this.port}`;
  }

  async start(): Promise<this> {
    const target = new URL(this.target.url);
    this.server = createServer((req, res) => {
      const sent: Buffer[] = [];
      req.on('data', (c: Buffer) => sent.push(c));
      req.on('end', () => {
        const body = Buffer.concat(sent);
        const sql = /"sqlText"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(body.toString())?.[1] ?? null;
        const forward = request(
          { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
          (answer) => {
            const chunks: Buffer[] = [];
            answer.on('data', (c: Buffer) => chunks.push(c));
            answer.on('end', () => {
              let out = Buffer.concat(chunks);
              try {
                const json = JSON.parse(out.toString()) as { data?: Record<string, any> };
                this.rewrite(json, sql === null ? null : (JSON.parse(`"${sql}"`) as string));
                out = Buffer.from(JSON.stringify(json));
              } catch {
                // Not JSON: passed on as it is.
              }
              const headers = { ...answer.headers, 'content-length': String(out.length) };
              delete headers['transfer-encoding'];
              res.writeHead(answer.statusCode ?? 500, headers).end(out);
            });
          },
        );
        forward.end(body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, 'localhost', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

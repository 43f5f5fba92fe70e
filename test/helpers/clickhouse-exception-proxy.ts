import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What ClickHouse 18.16 writes into a 200 answer's body when a query fails after its first rows were sent. */
export const MID_ANSWER_EXCEPTION =
  'Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded: would use 9.32 GiB ' +
  '(attempt to allocate chunk of 4194304 bytes), maximum: 9.31 GiB, e.what() = DB::Exception\n';

/**
 * A loopback HTTP proxy in front of ClickHouse that makes the first answer to
 * each distinct `FORMAT RowBinary` query fail as ClickHouse does when a query
 * breaks after it began to answer: status 200, `cutAt` of the rows' bytes,
 * then the exception's text, and the body ends cleanly. Later answers to the
 * same query (retries) pass unchanged. Traffic goes only to 127.0.0.1.
 */
export class ClickHouseExceptionProxy {
  port = 0;
  /** Answers broken off, and the row bytes each sent before its exception. */
  readonly broken: number[] = [];
  private readonly seen = new Set<string>();
  private server: Server | null = null;

  constructor(
    private readonly targetPort: number,
    /** Share of the answer's bytes sent before the exception. */
    private readonly cutAt = 0.6,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void readAll(req).then((body) => {
        const sql = body.toString('utf8');
        const breakIt = sql.includes('FORMAT RowBinary') && !this.seen.has(sql);
        this.seen.add(sql);
        const upstream = request(
          { host: '127.0.0.1', port: this.targetPort, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            if (!breakIt || answer.statusCode !== 200) {
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              return void answer.pipe(res);
            }
            void readAll(answer).then((rows) => {
              const headers = { ...answer.headers };
              delete headers['content-length'];
              delete headers['transfer-encoding'];
              res.writeHead(200, headers);
              const sent = Math.floor(rows.length * this.cutAt);
              this.broken.push(sent);
              res.write(rows.subarray(0, sent));
              res.end(MID_ANSWER_EXCEPTION);
            });
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

import {
  Agent,
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A fault the proxy injects into the requests it sees while the fault lasts. */
export type HttpFault =
  /** Answers `status` (default 503 SlowDown, as S3 throttling) instead of forwarding, on every `every`-th request. */
  | { kind: 'status'; every?: number; status?: number; code?: string }
  /** Holds each response for a random time in `[minMs, maxMs]` before sending it. */
  | { kind: 'delay'; minMs: number; maxMs: number }
  /**
   * Drops the connection on every `every`-th request, at a random stage: before
   * forwarding, halfway through the request body, or after the server has
   * answered (the client then never learns what happened).
   */
  | { kind: 'reset'; every?: number };

/** A multipart upload as the proxy saw it. */
export interface TrackedUpload {
  bucket: string;
  key: string;
  uploadId: string;
  state: 'open' | 'completed' | 'aborted';
  /** Whether the client received the upload id (a reset can drop the answer). */
  delivered: boolean;
}

export interface ProxyCounts {
  requests: number;
  status: number;
  delayed: number;
  reset: number;
}

type Op = 'create' | 'part' | 'complete' | 'abort' | 'list' | 'other';

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/**
 * A loopback HTTP proxy in front of an S3 server (s3rver) that injects S3
 * faults for a bounded time: error answers, slow answers, connection resets.
 *
 * It also keeps the multipart-upload bookkeeping real S3 has and s3rver lacks
 * (s3rver implements neither ListMultipartUploads nor AbortMultipartUpload):
 * it answers those two itself, refuses parts and completion of an aborted
 * upload with NoSuchUpload, and can tell which uploads were left open. So the
 * product's crash clean-up runs as it would against S3, and is checked.
 * Traffic goes only to 127.0.0.1.
 */
export class HttpFaultProxy {
  port = 0;
  readonly counts: ProxyCounts = { requests: 0, status: 0, delayed: 0, reset: 0 };
  /** Every request's line and headers, in order of arrival. */
  readonly seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
  private fault: HttpFault | null = null;
  private faultRequests = 0;
  private faultTimer: NodeJS.Timeout | null = null;
  private faultEnded: (() => void) | null = null;
  private readonly uploads = new Map<string, TrackedUpload>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly sockets = new Set<Socket>();
  private server: Server | null = null;

  constructor(
    private readonly targetPort: number,
    /** Access key ids the S3 server accepts; requests signed with others go to it unanswered by the proxy. */
    private readonly accessKeys: readonly string[] = ['S3RVER'],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res).catch(() => res.destroy()));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Injects `fault` for `forMs`; resolves when it has ended. */
  inject(fault: HttpFault, forMs: number): Promise<void> {
    this.clear();
    this.fault = fault;
    this.faultRequests = 0;
    return new Promise((resolve) => {
      this.faultEnded = resolve;
      this.faultTimer = setTimeout(() => this.clear(), forMs);
    });
  }

  /** Ends the current fault now. */
  clear(): void {
    if (this.faultTimer) clearTimeout(this.faultTimer);
    this.faultTimer = null;
    this.fault = null;
    this.faultEnded?.();
    this.faultEnded = null;
  }

  /** Multipart uploads neither completed nor aborted. */
  openUploads(): TrackedUpload[] {
    return [...this.uploads.values()].filter((u) => u.state === 'open');
  }

  allUploads(): TrackedUpload[] {
    return [...this.uploads.values()];
  }

  async stop(): Promise<void> {
    this.clear();
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counts.requests++;
    this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://proxy');
    const [bucket = '', ...keyParts] = url.pathname.slice(1).split('/');
    const key = keyParts.map(decodeURIComponent).join('/');
    const op = classify(req.method ?? 'GET', key, url.searchParams);
    const uploadId = url.searchParams.get('uploadId') ?? '';

    const fault = this.fault && this.faultApplies() ? this.fault : null;
    if (fault?.kind === 'status') {
      this.counts.status++;
      await drain(req);
      return sendError(res, fault.status ?? 503, fault.code ?? 'SlowDown', 'Please reduce your request rate.');
    }
    const reset = fault?.kind === 'reset' ? pick(['before', 'body', 'after'] as const) : null;
    if (reset === 'before' || (reset === 'body' && !hasBody(req))) {
      this.counts.reset++;
      return void req.socket.destroy();
    }
    const delay = fault?.kind === 'delay' ? fault.minMs + Math.random() * (fault.maxMs - fault.minMs) : 0;
    if (delay) this.counts.delayed++;

    // As S3: an upload id names an upload only under the bucket and key it was created for.
    const known = this.uploads.get(uploadId);
    const tracked = known && known.bucket === bucket && known.key === key ? known : undefined;
    if (this.accessKeys.includes(accessKeyOf(req))) {
      if (op === 'list') {
        await drain(req);
        await sleep(delay);
        return sendXml(res, 200, this.listXml(bucket, url.searchParams.get('prefix') ?? ''));
      }
      if (op === 'abort') {
        await drain(req);
        await sleep(delay);
        if (tracked?.state !== 'open')
          return sendError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
        tracked.state = 'aborted';
        res.writeHead(204).end();
        return;
      }
      if ((op === 'part' || op === 'complete') && known && tracked?.state !== 'open') {
        await drain(req);
        await sleep(delay);
        return sendError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
      }
    }

    const headers = { ...req.headers };
    delete headers.expect; // the proxy has answered 100-continue already
    const upstream = request({
      host: '127.0.0.1',
      port: this.targetPort,
      method: req.method,
      path: req.url,
      headers,
      agent: this.agent,
    });
    const fail = () => {
      upstream.destroy();
      res.destroy();
    };
    req.on('error', fail);
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.on('error', () => {
      if (res.headersSent) return res.destroy();
      sendError(res, 502, 'BadGateway', 'S3 server unreachable');
    });
    if (reset === 'body') {
      let sent = 0;
      const limit = Number(req.headers['content-length'] ?? 0) / 2;
      req.on('data', (chunk: Buffer) => {
        sent += chunk.length;
        if (sent >= limit && !req.socket.destroyed) {
          this.counts.reset++;
          req.socket.destroy();
          upstream.destroy();
        }
      });
    }
    req.pipe(upstream);

    upstream.on('response', (answer) => {
      this.respond(answer, res, { op, bucket, key, uploadId, delay, reset: reset === 'after' }).catch(() =>
        res.destroy(),
      );
    });
  }

  private async respond(
    answer: IncomingMessage,
    res: ServerResponse,
    how: { op: Op; bucket: string; key: string; uploadId: string; delay: number; reset: boolean },
  ): Promise<void> {
    const body = how.op === 'create' || how.op === 'complete' ? await readAll(answer) : null;
    if (answer.statusCode === 200 && body) this.record(how, body.toString('utf8'));
    if (how.reset) {
      this.counts.reset++;
      answer.resume();
      return void res.socket?.destroy();
    }
    await sleep(how.delay);
    if (res.destroyed) return void answer.resume();
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    if (body) res.end(body, () => this.delivered(how.op, body.toString('utf8')));
    else answer.pipe(res);
  }

  private faultApplies(): boolean {
    const every = this.fault && 'every' in this.fault ? (this.fault.every ?? 1) : 1;
    return ++this.faultRequests % every === 0;
  }

  private record(
    { op, bucket, key, uploadId }: { op: Op; bucket: string; key: string; uploadId: string },
    body: string,
  ) {
    if (op === 'create') {
      const id = /<UploadId>([^<]+)<\/UploadId>/.exec(body)?.[1];
      if (id) this.uploads.set(id, { bucket, key, uploadId: id, state: 'open', delivered: false });
    } else if (op === 'complete' && !body.includes('<Error>')) {
      const tracked = this.uploads.get(uploadId);
      if (tracked) tracked.state = 'completed';
    }
  }

  private delivered(op: Op, body: string): void {
    if (op !== 'create') return;
    const id = /<UploadId>([^<]+)<\/UploadId>/.exec(body)?.[1];
    const tracked = id ? this.uploads.get(id) : undefined;
    if (tracked) tracked.delivered = true;
  }

  private listXml(bucket: string, prefix: string): string {
    const open = this.openUploads().filter((u) => u.bucket === bucket && u.key.startsWith(prefix));
    const uploads = open
      .map(
        (u) =>
          `<Upload><Key>${xml(u.key)}</Key><UploadId>${xml(u.uploadId)}</UploadId>` +
          `<Initiated>${new Date().toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
      )
      .join('');
    return (
      `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="${S3_NS}">` +
      `<Bucket>${xml(bucket)}</Bucket><Prefix>${xml(prefix)}</Prefix><MaxUploads>1000</MaxUploads>` +
      `<IsTruncated>false</IsTruncated>${uploads}</ListMultipartUploadsResult>`
    );
  }
}

function classify(method: string, key: string, query: URLSearchParams): Op {
  if (method === 'GET' && key === '' && query.has('uploads')) return 'list';
  if (key === '') return 'other';
  if (method === 'POST' && query.has('uploads')) return 'create';
  if (method === 'PUT' && query.has('uploadId')) return 'part';
  if (method === 'POST' && query.has('uploadId')) return 'complete';
  if (method === 'DELETE' && query.has('uploadId')) return 'abort';
  return 'other';
}

/** The access key id of a SigV4 `Authorization` header. */
function accessKeyOf(req: IncomingMessage): string {
  return /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? '';
}

function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0;
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendXml(
    res,
    status,
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  );
}

function sendXml(res: ServerResponse, status: number, body: string): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function drain(req: IncomingMessage): Promise<void> {
  if (req.complete) return;
  await new Promise<void>((resolve) => {
    req.on('end', resolve).on('error', resolve).on('close', resolve);
    req.resume();
  });
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function pick<T>(options: readonly T[]): T {
  return options[Math.floor(Math.random() * options.length)]!;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

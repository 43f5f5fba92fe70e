import { createServer, type Server } from 'node:http';
import type { Writable } from 'node:stream';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';

/** Bytes of the answer a FloodingEndpoint would send in full: far more than any destination's answer. */
export const FLOOD_BYTES = 96 * 1024 * 1024;

/** Writes FLOOD_BYTES to `out` as it drains, counting them in `sent`, then calls `end` (unless `out` was destroyed). */
function flood(out: Writable, sent: (bytes: number) => void, end: () => void = () => undefined): void {
  const chunk = Buffer.alloc(64 * 1024, 'E');
  let left = FLOOD_BYTES;
  const pump = () => {
    while (left > 0 && !out.destroyed) {
      left -= chunk.length;
      sent(chunk.length);
      if (!out.write(chunk)) return void out.once('drain', pump);
    }
    if (!out.destroyed) end();
  };
  pump();
}

/**
 * A destination endpoint of a token holder's own: answers every request
 * with `status`, `head` and then FLOOD_BYTES, written as the client reads
 * them. `sent` counts what left it before the client stopped reading.
 */
export class FloodingEndpoint {
  private server: Server | null = null;
  sent = 0;
  /** Most bytes one answer sent before its client stopped reading. */
  largest = 0;
  port = 0;

  constructor(
    private readonly status: number,
    private readonly head: string,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(this.status, { 'content-type': 'application/octet-stream' });
        res.on('error', () => undefined);
        res.write(this.head);
        let answered = 0;
        flood(
          res,
          (n) => {
            this.sent += n;
            answered += n;
            this.largest = Math.max(this.largest, answered);
          },
          () => res.end(),
        );
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/**
 * A PostgreSQL server of a token holder's own (TLS refused, so `sslmode`
 * must be `disable`): logs every client in when `afterLogin`, then answers
 * each query, or else the startup message itself, with one message of
 * `type` that announces FLOOD_BYTES, and sends them as the client reads.
 * `sent` counts what left it before the client stopped reading.
 */
export class FloodingPostgres {
  private server: NetServer | null = null;
  private readonly sockets = new Set<Socket>();
  sent = 0;
  port = 0;

  constructor(
    private readonly type: 'E' | 'N',
    private readonly afterLogin = false,
  ) {}

  async start(): Promise<this> {
    this.server = createNetServer((socket) => {
      socket.on('error', () => undefined);
      this.sockets.add(socket);
      let loggedIn = false;
      socket.on('data', (data) => {
        // An SSLRequest (8 bytes, code 80877103): refused with 'N'.
        if (data.length === 8 && data.readUInt32BE(4) === 80877103) return void socket.write('N');
        if (this.afterLogin && !loggedIn) {
          loggedIn = true;
          // AuthenticationOk, then ReadyForQuery (idle).
          return void socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49]));
        }
        const head = Buffer.alloc(5);
        head.write(this.type, 0);
        head.writeUInt32BE(FLOOD_BYTES + 4, 1);
        socket.write(Buffer.concat([head, Buffer.from('SFATAL\0C28000\0M')]));
        flood(socket, (n) => (this.sent += n));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

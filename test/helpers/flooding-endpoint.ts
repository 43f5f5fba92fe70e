import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Bytes of the answer a FloodingEndpoint would send in full: far more than any destination's answer. */
export const FLOOD_BYTES = 96 * 1024 * 1024;

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
    const chunk = Buffer.alloc(64 * 1024, 'E');
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(this.status, { 'content-type': 'application/octet-stream' });
        res.on('error', () => undefined);
        res.write(this.head);
        let left = FLOOD_BYTES;
        const pump = () => {
          while (left > 0 && !res.destroyed) {
            left -= chunk.length;
            this.sent += chunk.length;
            this.largest = Math.max(this.largest, FLOOD_BYTES - left);
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        pump();
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

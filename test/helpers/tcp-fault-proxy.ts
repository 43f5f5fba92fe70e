import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export type TcpFault = 'none' | 'stall-responses' | 'reset';

/**
 * A loopback TCP proxy in front of a real server that can stall the server's
 * answers or reset connections, to see how the product copes with a hung or
 * dropped dependency. Traffic goes only to 127.0.0.1.
 */
export class TcpFaultProxy {
  fault: TcpFault = 'none';
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      if (this.fault === 'reset') return void client.destroy();
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('data', (d) => upstream.write(d));
      // Held answers are dropped, not delivered late: a stall looks like a hung server.
      upstream.on('data', (d) => {
        if (this.fault === 'none') client.write(d);
        else if (this.fault === 'reset') close();
      });
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Drops every open connection (as a server crash would). */
  resetAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.resetAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

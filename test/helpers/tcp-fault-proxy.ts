import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * `dribble`: answers go on in pieces of 1 to 64 bytes, one per turn of the
 * event loop; `cut`: the connection is dropped after `cutAfter` bytes of
 * the answer; `close-reused`: a connection that already had an answer is
 * closed, unanswered, when its next request comes (a server's keep-alive
 * timeout meeting the client's request); `trickle`: answers go on in pieces of
 * `trickleBytes`, one every `trickleEveryMs` (a server that is slow, not hung);
 * `progress-first`: an HTTP answer's headers are held open for `progressForMs`, an
 * `X-ClickHouse-Progress` header sent every 200 ms meanwhile (as ClickHouse does with
 * `send_progress_in_http_headers` while a query runs before its first row), then it goes on.
 */
export type TcpFault =
  'none' | 'stall-responses' | 'reset' | 'dribble' | 'cut' | 'close-reused' | 'trickle' | 'progress-first';

/**
 * A loopback TCP proxy in front of a real server that can stall the server's
 * answers or reset connections, to see how the product copes with a hung or
 * dropped dependency. Traffic goes only to 127.0.0.1.
 */
export class TcpFaultProxy {
  fault: TcpFault = 'none';
  cutAfter = 0;
  /** `trickle`: bytes passed on at a time, and the wait between two pieces (ms). */
  trickleBytes = 1024;
  trickleEveryMs = 100;
  /** `progress-first`: how long the headers stay open, sending progress (ms). */
  progressForMs = 2000;
  /** Answer bytes passed on, over all connections. */
  forwarded = 0;
  /** Request bytes passed on, as text (latin1), over all connections: what clients asked. */
  requested = '';
  /** Connections accepted. */
  accepted = 0;
  /**
   * Connections accepted while set log in, but their simple queries ('Q' messages) are never
   * passed on: a pooler whose pool is full, queueing them.
   */
  queueQueriesOfNewConnections = false;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      if (this.fault === 'reset') return void client.destroy();
      this.accepted++;
      const upstream = connect(this.targetPort, '127.0.0.1');
      let answeredBefore = false;
      const queueQueries = this.queueQueriesOfNewConnections;
      this.sockets.add(client).add(upstream);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('data', (d: Buffer) => {
        if (this.fault === 'close-reused' && answeredBefore) return close();
        if (queueQueries && d[0] === 0x51) return; // 'Q'
        this.requested += d.toString('latin1');
        upstream.write(d);
      });
      // Held answers are dropped, not delivered late: a stall looks like a hung server.
      let answered = 0;
      let dribbling = Promise.resolve();
      upstream.on('data', (d: Buffer) => {
        answeredBefore = true;
        if (this.fault === 'none' || this.fault === 'close-reused') {
          this.forwarded += d.length;
          client.write(d);
        } else if (this.fault === 'reset') {
          close();
        } else if (this.fault === 'cut') {
          const n = Math.min(d.length, this.cutAfter - answered);
          answered += n;
          this.forwarded += n;
          if (n > 0) client.write(d.subarray(0, n));
          if (answered >= this.cutAfter) client.end(() => close());
        } else if (this.fault === 'progress-first') {
          const end = answered === 0 ? d.indexOf('\r\n\r\n') : -1;
          answered += d.length;
          this.forwarded += d.length;
          dribbling = dribbling.then(async () => {
            if (end === -1) return void client.write(d);
            client.write(d.subarray(0, end + 2));
            for (const until = Date.now() + this.progressForMs; Date.now() < until;) {
              await new Promise((r) => setTimeout(r, 200));
              client.write('X-ClickHouse-Progress: {"read_rows":"0","read_bytes":"0","total_rows_to_read":"1"}\r\n');
            }
            client.write(d.subarray(end + 2));
          });
        } else if (this.fault === 'dribble' || this.fault === 'trickle') {
          const trickle = this.fault === 'trickle';
          upstream.pause();
          dribbling = dribbling.then(async () => {
            for (let at = 0; at < d.length;) {
              const n = trickle ? this.trickleBytes : 1 + Math.floor(Math.random() * 64);
              client.write(d.subarray(at, at + n));
              this.forwarded += Math.min(n, d.length - at);
              at += n;
              await new Promise((r) => (trickle ? setTimeout(r, this.trickleEveryMs) : setImmediate(r)));
            }
            upstream.resume();
          });
        }
      });
      client.on('error', close).on('close', close);
      // A hung server keeps the connection open: the server's close is held back too.
      const upstreamGone = () => {
        if (this.fault === 'stall-responses') upstream.destroy();
        else if (this.fault === 'reset') close();
        // What was passed on reaches the client before its connection ends.
        else void dribbling.then(() => client.end(() => close()));
      };
      upstream.on('error', upstreamGone).on('close', upstreamGone);
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

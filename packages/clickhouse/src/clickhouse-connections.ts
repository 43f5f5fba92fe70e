import { connect as plainConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/** Where a connection reads while no query's buffer is known: copied out at once, so all may share it. */
const SCRATCH = Buffer.allocUnsafeSlow(16 * 1024);

/** How long a connection may wait idle for its next query, in ms: under ClickHouse's keep_alive_timeout (3 s). */
export const IDLE_CONNECTION_MS = 2000;
/** Idle connections kept, at most. */
const MAX_IDLE = 32;

/** Where a connection's bytes go while it serves a query (a ResponseBatches). */
export interface ConnectionReader {
  room(): Buffer;
  received(n: number): boolean;
  push(chunk: Uint8Array): boolean;
  fail(err: unknown): void;
  closed(): void;
}

/**
 * One HTTP connection to ClickHouse, plain or TLS, that serves one query at a
 * time: its bytes go to the reader of the query it serves. Over plain TCP the
 * kernel reads straight into the reader's buffers (`onread`).
 */
export class ClickHouseConnection {
  private reader: ConnectionReader | null = null;
  /**
   * Where the socket reads next: the reader's room, or SCRATCH (which no
   * reader owns) while there is none, so that a read never lands in memory
   * a finished query gave back (another query may be using it).
   */
  private next: Uint8Array = SCRATCH;
  /** Response bytes received for the current query. */
  received = 0;
  /** Queries this connection served to their end. */
  served = 0;
  /** Closed, failed, or sent something while idle: never to be used again. */
  broken = false;
  idleSince = 0;
  readonly socket: Socket;

  constructor(host: string, port: number, secure: boolean, tls?: ConnectionOptions) {
    if (secure) {
      const socket = tlsConnect({ host, port, servername: isIP(host) ? undefined : host, ...tls });
      socket.on('data', (chunk: Buffer) => {
        this.received += chunk.length;
        if (!this.reader) return this.destroy();
        if (!this.reader.push(chunk)) socket.pause();
      });
      this.socket = socket;
    } else {
      this.socket = plainConnect({
        host,
        port,
        onread: {
          // Asked right after each read (and once at the start) for where the next one goes.
          buffer: () => (this.next = this.reader?.room() ?? SCRATCH),
          callback: (n: number, buf: Uint8Array) => {
            this.received += n;
            const reader = this.reader;
            if (!reader) {
              this.destroy();
              return false;
            }
            // Read where the reader did not say (before it took the connection): copied in.
            if (buf !== this.next || buf === SCRATCH) return reader.push(buf.subarray(0, n));
            return reader.received(n);
          },
        },
      });
    }
    this.socket.setNoDelay(true);
    this.socket.on('error', (err) => {
      this.broken = true;
      this.reader?.fail(err);
    });
    const closed = () => {
      this.broken = true;
      this.reader?.closed();
    };
    this.socket.on('end', closed);
    this.socket.on('close', closed);
  }

  /** Serves `reader` from now on: the query's request is written next. */
  attach(reader: ConnectionReader): void {
    this.reader = reader;
    this.received = 0;
    this.socket.ref();
    this.socket.resume();
  }

  /** The query is over: the connection serves no one (idle, or gone). */
  detach(): void {
    this.reader = null;
  }

  /** Serving no query. */
  get idle(): boolean {
    return this.reader === null;
  }

  destroy(): void {
    this.broken = true;
    this.reader = null;
    this.socket.destroy();
  }
}

/**
 * The idle keep-alive connections of one endpoint: a query takes one (or
 * opens one), and gives it back once its response was read to the end. A
 * connection of its own per query cost ClickHouse 18.16 about 0.85 ms of CPU
 * per query (2.5 against 1.65 ms for a tiny interval's SELECT) and the
 * worker a TCP handshake. Connections idle longer than IDLE_CONNECTION_MS
 * are closed before the server's keep-alive timeout would.
 */
export class ClickHouseConnections {
  private readonly idle: ClickHouseConnection[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly secure: boolean,
    private readonly tls?: ConnectionOptions,
  ) {
    this.timer = setInterval(() => this.closeIdle(Date.now() - IDLE_CONNECTION_MS), IDLE_CONNECTION_MS / 2);
    this.timer.unref();
  }

  /** An idle connection (`reused`), or a new one. */
  take(): { connection: ClickHouseConnection; reused: boolean } {
    const earliest = Date.now() - IDLE_CONNECTION_MS;
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (!c.broken && c.idleSince >= earliest) return { connection: c, reused: true };
      c.destroy();
    }
    return { connection: this.open(), reused: false };
  }

  /** A new connection, never an idle one. */
  open(): ClickHouseConnection {
    return new ClickHouseConnection(this.host, this.port, this.secure, this.tls);
  }

  /** `connection` served its query to the end: idle until the next one takes it. */
  give(connection: ClickHouseConnection): void {
    connection.detach();
    connection.served++;
    if (connection.broken || this.idle.length >= MAX_IDLE) return connection.destroy();
    connection.idleSince = Date.now();
    connection.socket.unref();
    // Reading on while idle: the server's close is seen (and an idle connection that receives bytes is dropped).
    // After the read that ended the response, which paused it.
    process.nextTick(() => {
      if (!connection.broken && connection.idle) connection.socket.resume();
    });
    this.idle.push(connection);
  }

  /** Closes every idle connection. */
  close(): void {
    clearInterval(this.timer);
    this.closeIdle(Infinity);
  }

  private closeIdle(before: number): void {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i]!;
      if (c.broken || c.idleSince < before) {
        this.idle.splice(i, 1);
        c.destroy();
      }
    }
  }
}

import { Worker, type TransferListItem } from 'node:worker_threads';

/** A message from a thread: the reply to a stream's request, an error, or an event it sends unasked. */
export type ThreadMessage<T> =
  | { id: number; kind: 'reply'; body: T }
  | { id: number; kind: 'error'; message: string }
  | { id: number; kind: 'event'; body: T };

type Waiting = { resolve: (body: unknown) => void; reject: (err: Error) => void };

/**
 * A worker thread shared by many streams (files), each addressed by id, each
 * with at most one request in flight. Started on first use; it does not keep
 * the process alive while no request waits. If the thread dies, every waiting
 * request fails and the next use starts a new one.
 */
export class ThreadChannel<Request extends { id: number }> {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, Waiting>();
  private readonly listeners = new Map<number, (body: unknown) => void>();
  private nextId = 1;

  /** `resourceLimits`: the thread's own heap limits (a small young generation keeps its RSS down). */
  constructor(
    private readonly script: string,
    private readonly resourceLimits?: { maxYoungGenerationSizeMb?: number; maxOldGenerationSizeMb?: number },
  ) {}

  /** A new stream id, with a listener for the events the thread sends it. */
  open(onEvent?: (body: unknown) => void): number {
    const id = this.nextId++;
    if (onEvent) this.listeners.set(id, onEvent);
    return id;
  }

  close(id: number): void {
    this.listeners.delete(id);
  }

  send(message: Request, transfer: readonly TransferListItem[] = []): void {
    this.start().postMessage(message, transfer);
  }

  request<T>(message: Request, transfer: readonly TransferListItem[] = []): Promise<T> {
    const worker = this.start();
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(message.id, { resolve: resolve as (body: unknown) => void, reject });
      worker.ref();
      worker.postMessage(message, transfer);
    });
  }

  /** Stops the thread, as if it had died: every waiting request fails, and the next use starts a new one. */
  async terminate(): Promise<void> {
    await this.worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.script, this.resourceLimits ? { resourceLimits: this.resourceLimits } : {});
    worker.unref();
    worker.on('message', (m: ThreadMessage<unknown>) => {
      if (m.kind === 'event') {
        this.listeners.get(m.id)?.(m.body);
        return;
      }
      const waiting = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      if (!waiting) return;
      if (m.kind === 'error') waiting.reject(new Error(m.message));
      else waiting.resolve(m.body);
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`worker thread ${this.script} exited (${code})`)));
    this.worker = worker;
    return worker;
  }
}

/** The thread side: answers each request of a stream in order, errors as messages. */
export function serveRequests<M extends { id: number }>(
  port: {
    on(event: 'message', handler: (m: M) => void): void;
    postMessage(m: unknown, t?: readonly TransferListItem[]): void;
  },
  handle: (
    m: M,
  ) =>
    | Promise<{ body: unknown; transfer?: TransferListItem[] } | null>
    | { body: unknown; transfer?: TransferListItem[] }
    | null,
): void {
  const queues = new Map<number, Promise<void>>();
  port.on('message', (m) => {
    const previous = queues.get(m.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        const reply = await handle(m);
        if (reply) port.postMessage({ id: m.id, kind: 'reply', body: reply.body }, reply.transfer ?? []);
      } catch (err) {
        port.postMessage({ id: m.id, kind: 'error', message: err instanceof Error ? err.message : String(err) });
      }
    });
    queues.set(m.id, next);
    void next.then(() => {
      if (queues.get(m.id) === next) queues.delete(m.id);
    });
  });
}

import { RetryableError } from '@bx/core';
import { NodeHttpHandler } from '@smithy/node-http-handler';

type Handle = NodeHttpHandler['handle'];

/**
 * The S3 client's HTTP handler (the SDK's NodeHttpHandler) with a stop for
 * every request at once. The SDK's own timeouts end a request that stalls;
 * this also ends requests that still trickle, or have not started, when the
 * run is cancelled or its time is up: `abortInFlight()` ends the requests
 * under way, `deadline(ms)` makes those and every later one end by then. Both
 * are aborts, which the SDK does not retry. A cancelled run thus gives its
 * worker slot back within the clean-up deadline, whatever the endpoint does.
 */
export class RequestControl extends NodeHttpHandler {
  private readonly inFlight = new Set<AbortController>();
  private expired: RetryableError | null = null;
  private timer: NodeJS.Timeout | null = null;

  override handle(...[request, options = {}]: Parameters<Handle>): ReturnType<Handle> {
    const own = new AbortController();
    if (this.expired) own.abort(this.expired);
    this.inFlight.add(own);
    const given = options.abortSignal as AbortSignal | undefined;
    const abortSignal = given ? AbortSignal.any([given, own.signal]) : own.signal;
    const done = () => this.inFlight.delete(own);
    return super.handle(request, { ...options, abortSignal }).then(
      (result) => {
        // Still abortable while the answer's body streams in.
        const body = result.response.body as Partial<NodeJS.ReadableStream> | undefined;
        if (typeof body?.once === 'function') body.once('close', done);
        else done();
        return result;
      },
      (err: unknown) => {
        done();
        throw err;
      },
    );
  }

  /** Ends the requests under way (later ones may still go). */
  abortInFlight(message: string): void {
    const reason = new RetryableError(message, { code: 'Aborted' });
    for (const request of this.inFlight) request.abort(reason);
  }

  /** Requests under way and every later one end within `ms`; an earlier deadline stays. */
  deadline(ms: number, message: string): void {
    if (this.timer || this.expired) return;
    this.timer = setTimeout(() => {
      this.expired = new RetryableError(message, { code: 'Timeout' });
      for (const request of this.inFlight) request.abort(this.expired);
    }, ms);
    this.timer.unref();
  }

  /** Lifts the deadline, for the next run or test on this client. */
  reset(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.expired = null;
  }

  override destroy(): void {
    if (this.timer) clearTimeout(this.timer);
    super.destroy();
  }
}

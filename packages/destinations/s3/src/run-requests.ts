import type { S3Client } from '@aws-sdk/client-s3';
import { RetryableError } from '@bx/core';
import type { ObjectPut } from './object-put';

/**
 * The S3 requests of one run, on a client other runs share: each goes with
 * the run's abort signal, so that a stop ends this run's requests only.
 * `abortInFlight()` ends the requests under way; `deadline(ms)` makes those
 * and every later one end by then. Both are aborts, which the SDK does not
 * retry. A cancelled run thus gives its worker slot back within the clean-up
 * deadline, whatever the endpoint does.
 */
export class RunRequests {
  private controller = new AbortController();
  private expired: RetryableError | null = null;
  private timer: NodeJS.Timeout | null = null;

  /** The signal of requests sent now. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * `client` with every request sent under this run's signal (and the
   * request's own, if it has one). A view: the client's connections,
   * configuration and resolved credentials stay shared.
   */
  client(client: S3Client): S3Client {
    const view = Object.create(client) as S3Client;
    const send = (command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> => {
      const own = options?.abortSignal;
      const abortSignal = own ? AbortSignal.any([own, this.signal]) : this.signal;
      return (client.send as (c: unknown, o: unknown) => Promise<unknown>).call(client, command, {
        ...options,
        abortSignal,
      });
    };
    view.send = send as S3Client['send'];
    return view;
  }

  /** `put` with every object sent under this run's signal (and the request's own, if it has one). */
  put(put: ObjectPut): ObjectPut {
    return (input, own) => put(input, own ? AbortSignal.any([own, this.signal]) : this.signal);
  }

  /** Ends the requests under way (later ones may still go). */
  abortInFlight(message: string): void {
    if (this.expired) return;
    this.controller.abort(new RetryableError(message, { code: 'Aborted' }));
    this.controller = new AbortController();
  }

  /** Requests under way and every later one end within `ms`; an earlier deadline stays. */
  deadline(ms: number, message: string): void {
    if (this.timer || this.expired) return;
    this.timer = setTimeout(() => {
      this.expired = new RetryableError(message, { code: 'Timeout' });
      // Aborted for good: later requests get this signal, already aborted.
      this.controller.abort(this.expired);
    }, ms);
    this.timer.unref();
  }

  /** The run is over: no deadline left pending. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

import { performance } from 'node:perf_hooks';

/**
 * Tells a destination whether its attempt is still the run's latest, so that an
 * attempt whose worker lost its lock (frozen: SIGSTOP, a VM paused, a long GC
 * pause; or cut off from Redis) and was taken over by another does not write
 * or delete the interval's objects after the newer attempt did.
 *
 * Another attempt can start only once this one's lock has expired, and a
 * worker that keeps running renews its lock every fraction of `lockMs`. So
 * within a third of the lock's duration of the last time Redis confirmed this
 * attempt as the latest (its start counts), no other can have started: the
 * answer is true without a round trip. Later (a long run, or a worker that
 * was frozen: the monotonic clock runs on while a process is stopped) Redis
 * is asked again. A run that takes less than that costs no Redis call.
 */
export class AttemptFence {
  private confirmed: number;

  constructor(
    private readonly lockMs: number,
    private readonly askRedis: () => Promise<boolean>,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.confirmed = now();
  }

  async isLatest(): Promise<boolean> {
    const asked = this.now();
    if (asked - this.confirmed < this.lockMs / 3) return true;
    const latest = await this.askRedis();
    if (latest) this.confirmed = asked;
    return latest;
  }
}

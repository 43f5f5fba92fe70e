import { performance } from 'node:perf_hooks';

/** The two clocks an AttemptFence reads: monotonic (runs on while a process is stopped) and wall. */
export interface FenceClock {
  mono(): number;
  wall(): number;
}

/** A moment on both clocks. */
export interface FenceTime {
  readonly mono: number;
  readonly wall: number;
}

export const systemFenceClock: FenceClock = { mono: () => performance.now(), wall: () => Date.now() };

/** Now, on both clocks: taken before the call that starts an attempt, so that call's time counts. */
export function fenceTime(clock: FenceClock = systemFenceClock): FenceTime {
  return { mono: clock.mono(), wall: clock.wall() };
}

/**
 * Tells a destination whether its attempt is still the run's latest, so that an
 * attempt whose worker lost its lock (frozen: SIGSTOP, a VM paused, a long GC
 * pause; or cut off from Redis) and was taken over by another does not write
 * or delete the interval's objects after the newer attempt did.
 *
 * Another attempt can start only once this one's lock has expired, and a
 * worker that keeps running renews its lock every fraction of `lockMs`. So
 * within a third of the lock's duration of the last time Redis confirmed this
 * attempt as the latest, no other can have started: the answer is true without
 * a round trip. The attempt's start counts as a confirmation from the moment
 * before its start call was sent (`startedAt`), not from when the answer was
 * read: a pause between the two must not buy trust. Time passed is the larger
 * of the monotonic clock's and the wall clock's (a suspended or paused VM may
 * stop the monotonic one). Later (a long run, or a worker that was frozen)
 * Redis is asked again. A run that takes less than that costs no Redis call.
 */
export class AttemptFence {
  private confirmed: FenceTime;

  constructor(
    private readonly lockMs: number,
    private readonly askRedis: () => Promise<boolean>,
    startedAt: FenceTime,
    private readonly clock: FenceClock = systemFenceClock,
  ) {
    this.confirmed = startedAt;
  }

  async isLatest(): Promise<boolean> {
    const asked = fenceTime(this.clock);
    const passed = Math.max(asked.mono - this.confirmed.mono, asked.wall - this.confirmed.wall);
    if (passed >= 0 && passed < this.lockMs / 3) return true;
    const latest = await this.askRedis();
    if (latest) this.confirmed = asked;
    return latest;
  }
}

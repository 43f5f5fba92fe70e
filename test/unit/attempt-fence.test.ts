import { expect } from 'chai';
import { AttemptFence, fenceTime } from '@bx/worker';

/**
 * An attempt's trust that it is still the run's latest: free while its lock cannot have
 * expired, a question to Redis after that (a long run, or a worker frozen for a while).
 */
describe('AttemptFence', () => {
  let mono: number;
  let wall: number;
  let asked: number;
  let latest: boolean;
  const clock = { mono: () => mono, wall: () => wall };
  const sut = (startedAt = fenceTime(clock)) =>
    new AttemptFence(
      3000,
      async () => {
        asked++;
        return latest;
      },
      startedAt,
      clock,
    );

  beforeEach(() => {
    mono = 1000;
    wall = 1_700_000_000_000;
    asked = 0;
    latest = true;
  });

  it('answers without asking Redis within a third of the lock’s duration of the attempt’s start', async () => {
    const fence = sut();
    mono += 999;
    wall += 999;
    latest = false;
    expect(await fence.isLatest()).to.equal(true);
    expect(asked).to.equal(0);
  });

  it('asks Redis once that time has passed (a frozen worker wakes): a later attempt started, false', async () => {
    const fence = sut();
    mono += 10_000;
    wall += 10_000;
    latest = false;
    expect(await fence.isLatest()).to.equal(false);
    expect(asked).to.equal(1);
    // Never trusted again without asking.
    expect(await fence.isLatest()).to.equal(false);
    expect(asked).to.equal(2);
  });

  it('a confirmation starts a new period of trust', async () => {
    const fence = sut();
    mono += 1500;
    wall += 1500;
    expect(await fence.isLatest()).to.equal(true);
    mono += 900;
    wall += 900;
    expect(await fence.isLatest()).to.equal(true);
    expect(asked).to.equal(1);
  });

  it('trust runs from before the start call: a pause while the start answer was read buys none', async () => {
    const startAsked = fenceTime(clock);
    mono += 10_000; // the worker froze after Redis started the attempt, before it read the answer
    wall += 10_000;
    const fence = sut(startAsked);
    latest = false;
    expect(await fence.isLatest()).to.equal(false);
    expect(asked).to.equal(1);
  });

  it('a wall clock that moved on while the monotonic one stood still (a suspended VM) counts', async () => {
    const fence = sut();
    wall += 60_000;
    latest = false;
    expect(await fence.isLatest()).to.equal(false);
    expect(asked).to.equal(1);
  });
});

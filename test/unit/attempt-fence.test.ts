import { expect } from 'chai';
import { AttemptFence } from '@bx/worker';

/**
 * An attempt's trust that it is still the run's latest: free while its lock cannot have
 * expired, a question to Redis after that (a long run, or a worker frozen for a while).
 */
describe('AttemptFence', () => {
  let now: number;
  let asked: number;
  let latest: boolean;
  const sut = () =>
    new AttemptFence(
      3000,
      async () => {
        asked++;
        return latest;
      },
      () => now,
    );

  beforeEach(() => {
    now = 1000;
    asked = 0;
    latest = true;
  });

  it('answers without asking Redis within a third of the lock’s duration of the attempt’s start', async () => {
    const fence = sut();
    now += 999;
    latest = false;
    expect(await fence.isLatest()).to.equal(true);
    expect(asked).to.equal(0);
  });

  it('asks Redis once that time has passed (a frozen worker wakes): a later attempt started, false', async () => {
    const fence = sut();
    now += 10_000;
    latest = false;
    expect(await fence.isLatest()).to.equal(false);
    expect(asked).to.equal(1);
    // Never trusted again without asking.
    expect(await fence.isLatest()).to.equal(false);
    expect(asked).to.equal(2);
  });

  it('a confirmation starts a new period of trust', async () => {
    const fence = sut();
    now += 1500;
    expect(await fence.isLatest()).to.equal(true);
    now += 900;
    expect(await fence.isLatest()).to.equal(true);
    expect(asked).to.equal(1);
  });
});

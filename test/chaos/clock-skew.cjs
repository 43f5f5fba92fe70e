// Preloaded into a service process (NODE_OPTIONS=--require …) to shift its
// clock by TEST_CLOCK_SKEW_MS: Date.now() and new Date() run fast or slow, as on
// a host whose clock drifted. The scheduler must not care: it keeps time by Redis.
'use strict';
const skew = Number(process.env.TEST_CLOCK_SKEW_MS || 0);
if (skew !== 0) {
  const RealDate = Date;
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + skew);
      else super(...args);
    }
    static now() {
      return RealDate.now() + skew;
    }
  }
  globalThis.Date = SkewedDate;
}

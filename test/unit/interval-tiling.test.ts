import { expect } from 'chai';
import { IANAZone } from 'luxon';
import {
  INTERVALS,
  intervalContaining,
  intervalsBetween,
  spanFrom,
  spansFrom,
  type IntervalName,
  type Span,
} from '@bx/core';
import { seededRandom } from '../helpers/seeded-random';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const iso = (t: number) => new Date(t).toISOString();
const show = (s: Span) => `[${iso(s.start)}, ${iso(s.end)})`;

/** Zones with odd offsets and odd shifts: 30 minutes, 2 hours, 45-minute offsets, a 15-minute change (1986). */
const ZONES = [
  'Australia/Lord_Howe',
  'Antarctica/Troll',
  'America/St_Johns',
  'Asia/Kathmandu',
  'Pacific/Chatham',
  'Europe/London',
  'America/Santiago',
];

const FIXED: Partial<Record<IntervalName, number>> = {
  hour: HOUR,
  'every 5 minutes': 5 * MINUTE,
  'every 15 minutes': 15 * MINUTE,
};
/** The longest an interval may be: a fixed length, or a day or week with a 2-hour shift (Troll). */
const LONGEST: Record<IntervalName, number> = {
  hour: HOUR,
  'every 5 minutes': 5 * MINUTE,
  'every 15 minutes': 15 * MINUTE,
  day: DAY + 2 * HOUR,
  week: 7 * DAY + 2 * HOUR,
};

function offsetMs(zone: string, t: number): number {
  return IANAZone.create(zone).offset(t) * MINUTE;
}

/** Instants where the zone's offset changes in [from, to), to the millisecond. */
function transitions(zone: string, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = from; t < to; t += 6 * HOUR) {
    if (offsetMs(zone, t) === offsetMs(zone, t + 6 * HOUR)) continue;
    let lo = t;
    let hi = t + 6 * HOUR; // offset(lo) differs from offset(hi): the change is in (lo, hi]
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offsetMs(zone, mid) === offsetMs(zone, lo)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

/** Instants to test in a zone: around every offset change of the years, and seeded random ones. */
function instants(zone: string): number[] {
  const random = seededRandom(zone.length * 7919 + zone.charCodeAt(0));
  const years = [
    [Date.UTC(1985, 6, 1), Date.UTC(1986, 6, 1)], // Kathmandu's +05:30 → +05:45
    [Date.UTC(2005, 0, 1), Date.UTC(2006, 0, 1)], // Troll had no DST yet (it began in 2005: +00 → +02)
    [Date.UTC(2024, 0, 1), Date.UTC(2025, 0, 1)],
  ];
  const out: number[] = [];
  for (const [from, to] of years) {
    for (const change of transitions(zone, from!, to!))
      for (const d of [
        -DAY,
        -2 * HOUR - 1,
        -HOUR,
        -37 * MINUTE,
        -1,
        0,
        1,
        13 * MINUTE,
        31 * MINUTE,
        HOUR + 7,
        3 * HOUR,
      ])
        out.push(change + d);
    for (let i = 0; i < 30; i++) out.push(from! + Math.floor(random() * (to! - from!)));
  }
  return out;
}

/** Whether `t` is an instant the zone's local clock reads as a multiple of `length`, or an offset change. */
function isBoundary(zone: string, t: number, length: number): boolean {
  const local = t + offsetMs(zone, t);
  return ((local % length) + length) % length === 0 || offsetMs(zone, t - 1) !== offsetMs(zone, t);
}

describe('interval tiling: one definition for intervalContaining, the scheduler walk and backfill planning', () => {
  for (const zone of ZONES) {
    for (const interval of INTERVALS) {
      it(`${interval} in ${zone}: identical, contiguous, not overlapping, around every offset change`, () => {
        for (const t of instants(zone)) {
          const sut = intervalContaining(t, interval, zone);
          const at = `${interval} ${zone} at ${iso(t)}: ${show(sut)}`;
          expect(sut.start <= t && t < sut.end, `${at} does not contain the instant`).to.equal(true);
          expect(sut.end - sut.start, `${at} too long`).to.be.at.most(LONGEST[interval]);
          // Every instant of the interval maps to it, and its neighbours touch it.
          expect(intervalContaining(sut.start, interval, zone), `${at} (its start)`).to.deep.equal(sut);
          expect(intervalContaining(sut.end - 1, interval, zone), `${at} (its last ms)`).to.deep.equal(sut);
          expect(intervalContaining(sut.end, interval, zone).start, `${at} (the next)`).to.equal(sut.end);
          expect(intervalContaining(sut.start - 1, interval, zone).end, `${at} (the one before)`).to.equal(sut.start);
          // The scheduler's and backfill's walks, from an interval start well before, reach the same span.
          const anchor = intervalContaining(t - 3 * LONGEST[interval], interval, zone);
          let walked = spanFrom(anchor.start, interval, zone);
          for (const span of spansFrom(anchor.start, interval, zone)) {
            expect(span, `${at}: walk`).to.deep.equal(walked);
            walked = spanFrom(span.end, interval, zone);
            if (span.end > t) {
              expect(span, `${at}: the scheduler walk`).to.deep.equal(sut);
              break;
            }
          }
          const planned = intervalsBetween(anchor.start, t + 1, interval, zone);
          expect(planned[planned.length - 1], `${at}: backfill planning`).to.deep.equal(sut);
          planned.slice(1).forEach((s, i) => expect(s.start, `${at}: planning contiguous`).to.equal(planned[i]!.end));
          // Boundaries are local-aligned instants, or offset changes (a shift that moves the alignment).
          const length = FIXED[interval];
          if (length !== undefined) {
            expect(isBoundary(zone, sut.start, length), `${at}: start aligned`).to.equal(true);
            expect(isBoundary(zone, sut.end, length), `${at}: end aligned`).to.equal(true);
          }
        }
      });
    }
  }

  it('Lord Howe, daylight saving begins (+10:30 → +11 at 02:00): the half hour after it is an interval of its own', () => {
    const shift = Date.parse('2024-10-05T15:30:00Z'); // 02:00 +10:30 becomes 02:30 +11
    expect(intervalContaining(shift + 15 * MINUTE, 'hour', 'Australia/Lord_Howe')).to.deep.equal({
      start: shift,
      end: shift + 30 * MINUTE,
    });
    expect(intervalContaining(shift - 1, 'hour', 'Australia/Lord_Howe')).to.deep.equal({
      start: shift - HOUR,
      end: shift,
    });
  });

  it('Lord Howe, daylight saving ends (+11 → +10:30 at 02:00): the half hour after it is an interval of its own', () => {
    const shift = Date.parse('2024-04-06T15:00:00Z'); // 02:00 +11 becomes 01:30 +10:30
    expect(intervalContaining(shift + 10 * MINUTE, 'hour', 'Australia/Lord_Howe')).to.deep.equal({
      start: shift,
      end: shift + 30 * MINUTE,
    });
    expect(intervalContaining(shift + 30 * MINUTE, 'hour', 'Australia/Lord_Howe')).to.deep.equal({
      start: shift + 30 * MINUTE,
      end: shift + 90 * MINUTE,
    });
  });
});

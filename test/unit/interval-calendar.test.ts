import { expect } from 'chai';
import {
  intervalContaining,
  intervalsBetween,
  nextInterval,
  spanFrom,
  initialCursor,
  dueAt,
  INTERVALS,
} from '@bx/core';

const ms = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();
const HOUR = 3_600_000;

describe('interval calendar', () => {
  it('seed example: a daily export created today first covers today and starts as tomorrow begins', () => {
    const created = ms('2024-03-14T15:27:11Z');
    const cursor = initialCursor({ start_at: null, interval: 'day', timezone: 'UTC' }, created);
    const sut = spanFrom(cursor, 'day', 'UTC');
    expect(iso(sut.start)).to.equal('2024-03-14T00:00:00.000Z');
    expect(iso(sut.end)).to.equal('2024-03-15T00:00:00.000Z');
    expect(dueAt(cursor, { end_at: null, interval: 'day', timezone: 'UTC' })).to.equal(ms('2024-03-15T00:00:00Z'));
  });

  it('aligns hours, 5 and 15 minutes, and contains the instant (start included, end excluded)', () => {
    const t = ms('2024-01-01T10:17:30Z');
    expect(intervalContaining(t, 'hour', 'UTC')).to.deep.equal({
      start: ms('2024-01-01T10:00:00Z'),
      end: ms('2024-01-01T11:00:00Z'),
    });
    expect(intervalContaining(t, 'every 5 minutes', 'UTC')).to.deep.equal({
      start: ms('2024-01-01T10:15:00Z'),
      end: ms('2024-01-01T10:20:00Z'),
    });
    expect(intervalContaining(t, 'every 15 minutes', 'UTC')).to.deep.equal({
      start: ms('2024-01-01T10:15:00Z'),
      end: ms('2024-01-01T10:30:00Z'),
    });
    const boundary = ms('2024-01-01T11:00:00Z');
    expect(intervalContaining(boundary, 'hour', 'UTC').start).to.equal(boundary);
    expect(intervalContaining(boundary - 1, 'hour', 'UTC').end).to.equal(boundary);
  });

  it('weeks start on Monday 00:00 in the export timezone', () => {
    const sut = intervalContaining(ms('2024-01-07T12:00:00Z'), 'week', 'UTC'); // a Sunday
    expect(iso(sut.start)).to.equal('2024-01-01T00:00:00.000Z'); // Monday
    expect(iso(sut.end)).to.equal('2024-01-08T00:00:00.000Z');
    const berlin = intervalContaining(ms('2024-01-08T00:30:00Z'), 'week', 'Europe/Berlin');
    expect(iso(berlin.start)).to.equal('2024-01-07T23:00:00.000Z'); // Monday 00:00 +01:00
  });

  it('days follow the local calendar: 23 and 25 hours across New York DST changes', () => {
    const spring = intervalContaining(ms('2024-03-10T12:00:00Z'), 'day', 'America/New_York');
    expect(iso(spring.start)).to.equal('2024-03-10T05:00:00.000Z');
    expect(spring.end - spring.start).to.equal(23 * HOUR);
    const fall = intervalContaining(ms('2024-11-03T12:00:00Z'), 'day', 'America/New_York');
    expect(iso(fall.start)).to.equal('2024-11-03T04:00:00.000Z');
    expect(fall.end - fall.start).to.equal(25 * HOUR);
  });

  for (const interval of INTERVALS) {
    for (const zone of [
      'UTC',
      'America/New_York',
      'Europe/London',
      'Asia/Kolkata',
      'Asia/Kathmandu',
      'Australia/Lord_Howe',
    ]) {
      it(`${interval} in ${zone}: consecutive across a year of DST changes, none skipped or doubled`, () => {
        const from = ms('2024-01-01T00:00:00Z');
        const to = interval.startsWith('every') ? ms('2024-01-20T00:00:00Z') : ms('2025-01-01T00:00:00Z');
        const spans = intervalsBetween(from, to, interval, zone);
        expect(spans.length).to.be.greaterThan(10);
        for (let i = 1; i < spans.length; i++) {
          expect(spans[i]!.start, `gap or overlap at ${iso(spans[i]!.start)}`).to.equal(spans[i - 1]!.end);
          expect(spans[i]!.end).to.be.greaterThan(spans[i]!.start);
        }
        // Every instant maps to the span listed for it.
        for (let t = from + 7 * 60_000 + 13_000; t < to; t += 97 * 60_000 + 11_000) {
          const span = intervalContaining(t, interval, zone);
          expect(t).to.be.at.least(span.start);
          expect(t).to.be.below(span.end);
        }
      });
    }
  }

  it('covers the repeated hour of a fall-back as two hourly intervals', () => {
    const spans = intervalsBetween(ms('2024-11-03T04:00:00Z'), ms('2024-11-03T08:00:00Z'), 'hour', 'America/New_York');
    expect(spans.map((s) => iso(s.start))).to.deep.equal([
      '2024-11-03T04:00:00.000Z',
      '2024-11-03T05:00:00.000Z',
      '2024-11-03T06:00:00.000Z',
      '2024-11-03T07:00:00.000Z',
    ]);
  });

  it('aligns hourly intervals to the local hour in half-hour zones', () => {
    expect(iso(intervalContaining(ms('2024-01-01T10:10:00Z'), 'hour', 'Asia/Kolkata').start)).to.equal(
      '2024-01-01T09:30:00.000Z',
    );
  });

  it('the interval that holds the epoch starts there, in every zone east of UTC (ClickHouse has nothing before it)', () => {
    for (const interval of INTERVALS) {
      for (const zone of ['Europe/Berlin', 'Asia/Kolkata', 'Pacific/Kiritimati']) {
        for (const at of [0, 1000, 59_000]) {
          const sut = intervalContaining(at, interval, zone);
          expect(sut.start, `${interval} ${zone}`).to.equal(0);
          expect(sut.end, `${interval} ${zone}`).to.be.above(at);
        }
        const spans = intervalsBetween(0, 8 * 24 * HOUR, interval, zone);
        expect(spans[0]!.start).to.equal(0);
        spans.slice(1).forEach((span, i) => expect(span.start).to.equal(spans[i]!.end));
      }
    }
    expect(intervalContaining(0, 'day', 'Europe/Berlin')).to.deep.equal({ start: 0, end: ms('1970-01-01T23:00:00Z') });
    expect(intervalContaining(0, 'day', 'America/New_York')).to.deep.equal({
      start: 0,
      end: ms('1970-01-01T05:00:00Z'),
    });
    // Before the epoch nothing moves.
    expect(intervalContaining(-1, 'day', 'Europe/Berlin')).to.deep.equal({
      start: ms('1969-12-31T23:00:00Z'),
      end: ms('1970-01-01T23:00:00Z'),
    });
  });

  it('a cursor off the calendar (after an interval change) runs to the end of the new interval', () => {
    const sut = spanFrom(ms('2024-01-01T15:00:00Z'), 'day', 'UTC');
    expect(sut).to.deep.equal({ start: ms('2024-01-01T15:00:00Z'), end: ms('2024-01-02T00:00:00Z') });
    expect(nextInterval(sut, 'day', 'UTC').start).to.equal(sut.end);
  });

  it('start_at aligns down to its interval; end_at stops the schedule', () => {
    const exp = {
      start_at: '2024-01-01T10:30:00.000Z',
      end_at: '2024-01-01T12:00:00.000Z',
      interval: 'hour' as const,
      timezone: 'UTC',
    };
    const cursor = initialCursor(exp, ms('2024-06-01T00:00:00Z'));
    expect(iso(cursor)).to.equal('2024-01-01T10:00:00.000Z');
    expect(dueAt(ms('2024-01-01T11:00:00Z'), exp)).to.equal(ms('2024-01-01T12:00:00Z'));
    expect(dueAt(ms('2024-01-01T12:00:00Z'), exp)).to.equal(null);
  });
});

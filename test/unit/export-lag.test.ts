import { expect } from 'chai';
import { exportLagSeconds } from '@bx/core';

describe('export lag', () => {
  const hourly = { interval: 'hour' as const, timezone: 'UTC', end_at: null };
  const at = (iso: string) => Date.parse(iso);

  it('counts from the end of the oldest run not yet exported', () => {
    const sut = exportLagSeconds(
      at('2024-01-01T05:30:00Z'),
      { oldestPendingEnd: at('2024-01-01T02:00:00Z'), cursor: at('2024-01-01T05:00:00Z') },
      hourly,
    );
    expect(sut).to.equal(3.5 * 3600);
  });

  it('without pending runs, counts from the end of the interval at the schedule cursor', () => {
    const progress = { oldestPendingEnd: null, cursor: at('2024-01-01T04:00:00Z') };
    expect(exportLagSeconds(at('2024-01-01T05:00:30Z'), progress, hourly)).to.equal(30);
    expect(exportLagSeconds(at('2024-01-01T04:59:59Z'), progress, hourly)).to.equal(0);
  });

  it('follows the export calendar (a day in its time zone)', () => {
    const daily = { interval: 'day' as const, timezone: 'Europe/Berlin', end_at: null };
    const progress = { oldestPendingEnd: null, cursor: at('2023-12-31T23:00:00Z') };
    expect(exportLagSeconds(at('2024-01-02T00:00:00Z'), progress, daily)).to.equal(3600);
  });

  it('is 0 once the schedule has passed end_at and every run is done', () => {
    const ended = { ...hourly, end_at: '2024-01-01T03:00:00.000Z' };
    const progress = { oldestPendingEnd: null, cursor: at('2024-01-01T03:00:00Z') };
    expect(exportLagSeconds(at('2024-02-01T00:00:00Z'), progress, ended)).to.equal(0);
  });
});

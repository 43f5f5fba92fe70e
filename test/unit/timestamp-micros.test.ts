import { expect } from 'chai';
import { timestampMicros } from '@bx/batch';

const micros = (text: string) => {
  const b = Buffer.from(`xx${text}yy`);
  return timestampMicros(b, 2, 2 + text.length);
};

describe('timestampMicros: ClickHouse timestamp bytes to epoch microseconds', () => {
  it('matches Date for whole seconds across leap days, centuries and before 1970', () => {
    for (const iso of [
      '1970-01-01T00:00:00Z',
      '1969-12-31T23:59:59Z',
      '2000-02-29T12:34:56Z',
      '1900-03-01T00:00:00Z',
      '2024-02-29T23:59:59Z',
      '2100-12-31T23:59:59Z',
      '2024-03-31T01:00:00Z',
    ]) {
      expect(micros(iso.slice(0, 19).replace('T', ' ')), iso).to.equal(Date.parse(iso) * 1000);
    }
  });

  it('keeps microseconds of DateTime64(6) and pads shorter fractions', () => {
    expect(micros('2024-01-01 00:00:00.000001')).to.equal(Date.parse('2024-01-01T00:00:00Z') * 1000 + 1);
    expect(micros('2024-01-01 00:00:00.999999')).to.equal(Date.parse('2024-01-01T00:00:00Z') * 1000 + 999_999);
    expect(micros('2024-01-01 00:00:00.5')).to.equal(Date.parse('2024-01-01T00:00:00Z') * 1000 + 500_000);
  });

  it('applies an ISO offset, and refuses other text', () => {
    expect(micros('2024-01-01T02:00:00+02:00')).to.equal(Date.parse('2024-01-01T00:00:00Z') * 1000);
    expect(() => micros('yesterday at noon')).to.throw(/unsupported timestamp/);
    expect(() => micros('2024-01-01')).to.throw(/unsupported timestamp/);
  });
});

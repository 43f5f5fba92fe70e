/**
 * `2024-01-01 00:00:00.123456` (ClickHouse, UTC) or ISO 8601 with `T` and an
 * optional offset → microseconds since the epoch, without Date (several times
 * faster per row). Exact as a double until the year 2255.
 */
export function timestampMicros(s: string): number {
  const c = (i: number): number => s.charCodeAt(i) - 48;
  const sep = s.charCodeAt(10);
  if (c(4) !== -3 || c(7) !== -3 || c(13) !== 10 || c(16) !== 10 || (sep !== 32 && sep !== 84)) {
    throw new Error(`unsupported timestamp: ${JSON.stringify(s)}`);
  }
  let y = c(0) * 1000 + c(1) * 100 + c(2) * 10 + c(3);
  const m = c(5) * 10 + c(6);
  if (m <= 2) y -= 1;
  // Days from the civil calendar (proleptic Gregorian).
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + c(8) * 10 + c(9) - 1;
  const days = era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
  let secs = days * 86400 + (c(11) * 10 + c(12)) * 3600 + (c(14) * 10 + c(15)) * 60 + c(17) * 10 + c(18);
  let i = 19;
  let frac = 0;
  if (s.charCodeAt(i) === 46) {
    let digits = 0;
    for (let ch = s.charCodeAt(++i); ch >= 48 && ch <= 57; ch = s.charCodeAt(++i)) {
      if (digits++ < 6) frac = frac * 10 + ch - 48;
    }
    for (; digits < 6; digits++) frac *= 10;
  }
  const sign = s.charCodeAt(i);
  if (sign === 43 || sign === 45) {
    const offset = ((c(i + 1) * 10 + c(i + 2)) * 60 + c(i + 4) * 10 + c(i + 5)) * 60;
    secs += sign === 43 ? -offset : offset;
  }
  return secs * 1e6 + frac;
}

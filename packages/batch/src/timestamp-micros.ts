/**
 * `2024-01-01 00:00:00.123456` (ClickHouse, UTC) or ISO 8601 with `T` and an
 * optional offset, as the bytes `b[s, e)` → microseconds since the epoch,
 * without Date or a string (several times faster per row). Exact as a double
 * until the year 2255.
 */
export function timestampMicros(b: Uint8Array, s: number, e: number): number {
  const c = (i: number): number => (s + i < e ? b[s + i]! - 48 : -48);
  const sep = c(10) + 48;
  if (e - s < 19 || c(4) !== -3 || c(7) !== -3 || c(13) !== 10 || c(16) !== 10 || (sep !== 32 && sep !== 84)) {
    throw new Error(`unsupported timestamp: ${JSON.stringify(Buffer.from(b.subarray(s, e)).toString())}`);
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
  if (c(i) === -2) {
    let digits = 0;
    for (let d = c(++i); d >= 0 && d <= 9; d = c(++i)) {
      if (digits++ < 6) frac = frac * 10 + d;
    }
    for (; digits < 6; digits++) frac *= 10;
  }
  const sign = c(i) + 48;
  if (sign === 43 || sign === 45) {
    const offset = ((c(i + 1) * 10 + c(i + 2)) * 60 + c(i + 4) * 10 + c(i + 5)) * 60;
    secs += sign === 43 ? -offset : offset;
  }
  return secs * 1e6 + frac;
}

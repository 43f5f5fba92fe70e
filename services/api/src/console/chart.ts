import type { IntervalName, Run } from '@bx/core';
import { formatCount, formatInstant, formatInterval } from './format';
import { html, type Html } from './html';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** How far back the chart looks per interval: at most 288 bars, a day of 5-minute runs. */
export const CHART_WINDOW_MS: Record<IntervalName, number> = {
  'every 5 minutes': DAY,
  'every 15 minutes': 2 * DAY,
  hour: 7 * DAY,
  day: 60 * DAY,
  week: 26 * 7 * DAY,
};

const W = 760;
const H = 180;
const LEFT = 64;
const RIGHT = 8;
const TOP = 10;
const BOTTOM = 26;

/**
 * Records per interval as an SVG drawn here (no script, no library): one bar
 * per run in the window, its height the records of a completed run; runs that
 * failed show as a marker under the axis. Every bar has a title, the figure a
 * text summary.
 */
export function recordsChart(runs: readonly Run[], window: { start: number; end: number }, timeZone: string): Html {
  const plotW = W - LEFT - RIGHT;
  const plotH = H - TOP - BOTTOM;
  const span = Math.max(1, window.end - window.start);
  const x = (t: number) => LEFT + ((t - window.start) / span) * plotW;
  const completed = runs.filter((r) => r.status === 'Completed');
  const failed = runs.filter((r) => r.status === 'Failed' || r.status === 'FailedRetryable');
  const top = niceMax(Math.max(0, ...completed.map((r) => r.records_completed)));
  const y = (v: number) => TOP + plotH - (v / top) * plotH;
  const total = completed.reduce((s, r) => s + r.records_completed, 0);
  const bar = (r: Run, cls: string, height?: number) => {
    const a = Math.max(LEFT, x(Date.parse(r.data_interval_start)));
    const b = Math.min(W - RIGHT, x(Date.parse(r.data_interval_end)));
    const w = Math.max(1, b - a - (b - a > 3 ? 1 : 0));
    const h = height ?? Math.max(r.records_completed > 0 ? 1 : 0, TOP + plotH - y(r.records_completed));
    const yy = height === undefined ? TOP + plotH - h : TOP + plotH + 2;
    return html`<rect
      class="${cls}"
      x="${a.toFixed(1)}"
      y="${yy.toFixed(1)}"
      width="${w.toFixed(1)}"
      height="${h.toFixed(1)}"
      ><title>
        ${formatInterval(r.data_interval_start, r.data_interval_end, timeZone)}:
        ${r.status === 'Completed' ? `${formatCount(r.records_completed)} records` : r.status}
      </title></rect
    >`;
  };
  const ticks = [0, top / 2, top].map(
    (v) =>
      html`<g class="tick"
        ><line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"></line
        ><text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${formatCount(v)}</text></g
      >`,
  );
  const labels = [0, 1 / 3, 2 / 3, 1].map((f) => {
    const t = window.start + f * span;
    const anchor = f === 0 ? 'start' : f === 1 ? 'end' : 'middle';
    return html`<text x="${x(t).toFixed(1)}" y="${H - 6}" text-anchor="${anchor}"
      >${formatInstant(t, timeZone).slice(0, 16)}</text
    >`;
  });
  const summary = `${formatCount(completed.length)} completed runs with ${formatCount(total)} records${
    failed.length ? `, ${failed.length} failed` : ''
  } between ${formatInstant(window.start, timeZone)} and ${formatInstant(window.end, timeZone)} (${timeZone}).`;
  return html`<figure class="chart">
    <svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-labelledby="chart-title chart-desc" class="records-chart">
      <title id="chart-title">Records per interval</title>
      <desc id="chart-desc">${summary}</desc>
      ${ticks} ${completed.map((r) => bar(r, 'bar'))} ${failed.map((r) => bar(r, 'bar-failed', 5))} ${labels}
    </svg>
    <figcaption>${summary}${failed.length ? ' Failed runs are marked under the axis.' : ''}</figcaption>
  </figure>`;
}

/** 1, 2 or 5 times a power of ten, at least `v` (and at least 1). */
function niceMax(v: number): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

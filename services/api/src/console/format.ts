import type { DestinationConfig, RunStatus } from '@bx/core';
import { html, type Html } from './html';

const counts = new Intl.NumberFormat('en-US');

export function formatCount(n: number): string {
  return counts.format(n);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** `1 h 5 min`, `3 min 20 s`, `850 ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  const parts: string[] = [];
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) parts.push(`${d} d`);
  if (h) parts.push(`${h} h`);
  if (m && !d) parts.push(`${m} min`);
  if (!d && !h) parts.push(`${s % 60} s`);
  return parts.join(' ');
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * Whether a time zone is UTC under another name (`Etc/UTC`, `UCT`, `Zulu`,
 * `Etc/GMT`, ...): its times are the UTC ones, so a page shows them once.
 */
export function isUtcZone(timeZone: string): boolean {
  try {
    return new Intl.DateTimeFormat('en', { timeZone }).resolvedOptions().timeZone === 'UTC';
  } catch {
    return false;
  }
}

/** `2024-03-01 14:05:00` in the time zone (24-hour clock). */
export function formatInstant(iso: string | number, timeZone = 'UTC'): string {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(iso)).map((part) => [part.type, part.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/**
 * `2024-03-01 14:05:00.123456`: formatInstant in UTC with the fraction of
 * seconds the text carries (a receipt's inserted_at has microseconds, past
 * what a Date holds). Offsets are whole minutes: the fraction is the UTC one.
 */
export function formatPreciseInstant(iso: string): string {
  const fraction = /T\d{2}:\d{2}:\d{2}(\.\d+)/.exec(iso)?.[1] ?? '';
  return Number.isNaN(Date.parse(iso)) ? iso : `${formatInstant(iso)}${fraction}`;
}

/** `2024-03-01 14:00:00 – 15:00:00`: the end's date only when it differs. */
export function formatInterval(start: string, end: string, timeZone: string): string {
  const a = formatInstant(start, timeZone);
  const b = formatInstant(end, timeZone);
  return a.slice(0, 10) === b.slice(0, 10) ? `${a} – ${b.slice(11)}` : `${a} – ${b}`;
}

const STATUS_ICONS: Record<string, string> = {
  Completed: '✓',
  Running: '▶',
  Scheduled: '◷',
  FailedRetryable: '↻',
  Failed: '✕',
  Cancelled: '⊘',
  Active: '●',
  Paused: '❚❚',
};

const STATUS_TEXT: Record<string, string> = { FailedRetryable: 'Failed, will retry' };

/** A status in words (`FailedRetryable` is 'Failed, will retry'). */
export function statusText(status: string): string {
  return STATUS_TEXT[status] ?? status;
}

/** A status as text with an icon; the colour only repeats what the words say. */
export function statusBadge(status: RunStatus | 'Active' | 'Paused' | string): Html {
  const slug = status.toLowerCase().replace(/[^a-z]+/g, '-');
  return html`<span class="status status-${slug}"
    ><span aria-hidden="true">${STATUS_ICONS[status] ?? '•'}</span> ${statusText(status)}</span
  >`;
}

/** Where a destination writes: `s3://bucket/prefix`, `db.schema.table`, ... */
export function destinationTarget(destination: DestinationConfig): string {
  const c = destination.config as Record<string, unknown>;
  const str = (key: string) => (typeof c[key] === 'string' && c[key] !== '' ? (c[key] as string) : null);
  if (str('bucket_name')) return `s3://${str('bucket_name')}/${str('prefix') ?? ''}`;
  const table = [str('database'), str('schema'), str('table_name')].filter(Boolean).join('.');
  const host = str('host') ?? str('account');
  return host ? `${host}: ${table}` : table;
}

/** Lag as people read it: `up to date` below a minute. */
export function formatLag(seconds: number | null): string {
  if (seconds === null) return 'unknown';
  if (seconds < 60) return 'up to date';
  return `${formatDuration(seconds * 1000)} behind`;
}

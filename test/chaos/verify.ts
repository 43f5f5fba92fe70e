import type { S3Client } from '@aws-sdk/client-s3';
import { isoSeconds, type Span } from '@bx/core';
import { gunzipSync } from 'node:zlib';
import type { TestClickHouse } from '../helpers/clickhouse';
import { getObject, listKeys } from '../helpers/s3';

/** Source against destination, row by row, for every interval of one export. */
export interface Verdict {
  intervals: number;
  /** Source rows in the intervals. */
  rows: number;
  /** Source rows not at the destination. */
  missing: number;
  /** Rows at the destination once too often: repeated in an interval, foreign to it, or in an object that should not exist. */
  duplicated: number;
  /** Objects that belong to no expected interval. */
  strayObjects: string[];
  /** Intervals with rows but no object, or with a problem; for the report. */
  problems: string[];
  /** Receipts (`_receipt.json`) whose count differs from what their interval's objects hold. */
  receiptProblems: string[];
}

// <prefix>/<start>-<end>[-<n>].jsonl[.gz] (contract: S3 destination).
const KEY = /(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00)-(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00)(?:-\d+)?\.jsonl(?:\.gz)?$/;
const UUID_FIELD = /^\{"uuid":"([0-9a-f-]{36})"/;
// <prefix>/<start>-<end>_receipt.json, written after an interval's data (contract: Receipts).
const RECEIPT = /(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00)-(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00)_receipt\.json$/;

/** Every source uuid of `teamId` by interval (ingestion time in `[start, end)`). */
export async function sourceRows(ch: TestClickHouse, teamId: number, spans: readonly Span[]): Promise<string[][]> {
  const result = await ch.client.query({
    query: `SELECT toString(uuid), toUInt32(inserted_at) FROM ${ch.database}.${ch.table}
            WHERE team_id = ${teamId} AND inserted_at IS NOT NULL`,
    format: 'TabSeparated',
  });
  const byInterval = spans.map((): string[] => []);
  for (const line of (await result.text()).split('\n')) {
    if (line === '') continue;
    const [uuid, seconds] = line.split('\t');
    const at = Number(seconds) * 1000;
    const i = spans.findIndex((s) => s.start <= at && at < s.end);
    if (i >= 0) byInterval[i]!.push(uuid!);
  }
  return byInterval;
}

/** The uuids of one JSON Lines object (gzip or not), in order. */
export async function objectUuids(s3: S3Client, bucket: string, key: string): Promise<string[]> {
  const data = await getObject(s3, bucket, key);
  const text = (key.endsWith('.gz') ? gunzipSync(data) : data).toString('utf8');
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`${key} is cut short (no final newline)`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => UUID_FIELD.exec(line)?.[1] ?? String((JSON.parse(line) as { uuid: unknown }).uuid));
}

/**
 * Reads every object under `prefix` and compares each interval's rows with the
 * source: nothing missing, nothing twice, nothing where it does not belong.
 */
export async function verifyExport(opts: {
  ch: TestClickHouse;
  teamId: number;
  spans: readonly Span[];
  s3: S3Client;
  bucket: string;
  prefix: string;
}): Promise<Verdict> {
  const { spans } = opts;
  const source = await sourceRows(opts.ch, opts.teamId, spans);
  const found = spans.map((): string[] => []);
  const strayObjects: string[] = [];
  let duplicated = 0;
  const receipts = new Map<number, { key: string; records: number }>();
  const spanOf = (match: RegExpExecArray | null) =>
    match ? spans.findIndex((s) => isoSeconds(s.start) === match[1] && isoSeconds(s.end) === match[2]) : -1;
  for (const key of await listKeys(opts.s3, opts.bucket, opts.prefix)) {
    const receipt = RECEIPT.exec(key);
    if (receipt) {
      const body = JSON.parse((await getObject(opts.s3, opts.bucket, key)).toString('utf8')) as { records: number };
      receipts.set(spanOf(receipt), { key, records: body.records });
      continue;
    }
    // A split interval's list of its files: the files themselves are read.
    if (key.endsWith('_manifest.json')) continue;
    const match = KEY.exec(key);
    const i = match ? spans.findIndex((s) => isoSeconds(s.start) === match[1] && isoSeconds(s.end) === match[2]) : -1;
    const uuids = await objectUuids(opts.s3, opts.bucket, key);
    if (i < 0) {
      strayObjects.push(key);
      duplicated += uuids.length;
    } else {
      found[i]!.push(...uuids);
    }
  }
  const verdict = tally(spans, source, found, strayObjects, duplicated);
  // Every receipt counts exactly the rows its interval's objects hold.
  for (const [i, receipt] of receipts) {
    if (i < 0) verdict.strayObjects.push(receipt.key);
    else if (receipt.records !== found[i]!.length) {
      verdict.receiptProblems.push(`${receipt.key}: ${receipt.records} records, the objects hold ${found[i]!.length}`);
    }
  }
  return verdict;
}

/**
 * The verdict on what a destination holds (`found`: uuids per interval) against
 * the source; `stray` rows belong to no interval and count as duplicated.
 */
export function tally(
  spans: readonly Span[],
  source: string[][],
  found: string[][],
  strayObjects: string[] = [],
  stray = 0,
): Verdict {
  let missing = 0;
  let duplicated = stray;
  const problems: string[] = [];
  spans.forEach((span, i) => {
    const expected = new Set(source[i]);
    const seen = new Map<string, number>();
    for (const uuid of found[i]!) seen.set(uuid, (seen.get(uuid) ?? 0) + 1);
    let lost = 0;
    for (const uuid of expected) if (!seen.has(uuid)) lost++;
    let extra = 0;
    for (const [uuid, count] of seen) extra += expected.has(uuid) ? count - 1 : count;
    missing += lost;
    duplicated += extra;
    if (lost || extra) problems.push(`${isoSeconds(span.start)}: ${lost} missing, ${extra} extra`);
  });
  return {
    intervals: spans.length,
    rows: source.reduce((n, rows) => n + rows.length, 0),
    missing,
    duplicated,
    strayObjects,
    problems,
    receiptProblems: [],
  };
}

/** `…/2024-01-01T05:00:00+00:00-2024-01-01T06:00:00+00:00.jsonl` → the interval start. */
export function intervalStartOf(key: string): number {
  return Date.parse(/(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\+00:00-/.exec(key)![1] + 'Z');
}

/**
 * `npx tsx bench/data-path-cpu.ts [--row-bytes 400] [--rows N] [--reps R] [--stages a,b]`: the
 * worker's per-batch work on the benchmark's rows, in this process, in CPU seconds per stage:
 * framing the RowBinary response (`frame`), the receipt tally (`tally`), the JSON Lines records
 * (`records`), zstd of those records as the zstd thread does it (`zstd`, on this thread here), and
 * a Parquet+zstd file's main-thread work (`parquet`, its pages compressed on the zstd thread).
 * The interval's rows are read once, as the worker's query reads them (binary UUIDs and
 * timestamps), into a file under the system's temporary folder, and reused (delete it after
 * reloading the table); no ClickHouse, S3 or Redis work is counted. For comparing changes to the
 * data path back to back on a shared machine, where wall times follow the load.
 */
import { columnTypes, decodeRowBinary } from '@bx/clickhouse';
import { frameRows } from '../packages/clickhouse/src/row-binary-frames';
import { eventsLayout } from '@bx/model-events';
import { productSelect } from './baselines';
import { eventsFormat, ReceiptTally, type EventBatch } from '@bx/batch';
import { ParquetEncoder } from '@bx/destination-s3';
import { ZSTD_JSON_LINES } from '@bx/zstd';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as zstd from 'zstd-napi/binding';
import { rowsDatabase } from './generate';

const { values: args } = parseArgs({
  options: {
    'row-bytes': { type: 'string', default: '400' },
    database: { type: 'string', default: 'bx_bench' },
    reps: { type: 'string', default: '3' },
    /** Rows of the interval used at most (the file keeps them all). */
    rows: { type: 'string' },
    stages: { type: 'string', default: 'frame,tally,records,zstd,parquet' },
  },
});
const URL = 'http://127.0.0.1:8123';
/** Bytes of rows per batch, as the ClickHouse source yields them (ClickHouseSourceOptions.batchBytes). */
const BATCH_BYTES = 2 * 1024 * 1024;
/** A zstd slot's input (ZstdSlotStream's STREAM_SLOT). */
const SLOT = 4 * 1024 * 1024;

async function rowBinary(): Promise<{ bytes: Buffer; layout: Uint8Array }> {
  const database = rowsDatabase(Number(args['row-bytes']), args.database);
  const types = await columnTypes({ url: URL, username: 'default', password: '' }, database, 'events', {
    timeoutMs: 30_000,
  });
  const layout = eventsLayout(types);
  const file = join(tmpdir(), `bx-data-path-${database}-${layout.join('')}.bin`);
  if (!existsSync(file)) {
    const sql = productSelect(database, layout, types);
    writeFileSync(`${file}.sql`, `${sql}\nFORMAT RowBinary`);
    execFileSync('bash', ['-c', `curl -sS --fail --data-binary @${file}.sql '${URL}/' -o ${file}`]);
  }
  return { bytes: readFileSync(file), layout };
}

/** The rows cut into batches of about BATCH_BYTES, each framed on its own (as the source frames them). */
function batchesOf(bytes: Buffer, layout: Uint8Array, maxRows: number): EventBatch[] {
  const format = eventsFormat(layout);
  const all = decodeRowBinary(bytes, format);
  const batches: EventBatch[] = [];
  let rows = 0;
  for (let r = 0; r < all.count && rows < maxRows;) {
    const start = all.start(r, 0);
    let to = r;
    while (to < all.count && all.start(to, 0) - start < BATCH_BYTES) to++;
    const end = to < all.count ? all.start(to, 0) : bytes.length;
    batches.push(decodeRowBinary(bytes.subarray(start, end), format));
    rows += to - r;
    r = to;
  }
  return batches;
}

/** CPU seconds of this process's main thread so far (its task's id is the process's). */
function mainThreadCpu(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** This process's minor page faults so far (memory the kernel mapped on first touch). */
function minorFaults(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

function cpu(f: () => void): number {
  const before = process.cpuUsage();
  f();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

async function main(): Promise<void> {
  const { bytes, layout } = await rowBinary();
  const batches = batchesOf(bytes, layout, Number(args.rows ?? Infinity));
  const rows = batches.reduce((n, b) => n + b.count, 0);
  const stages = args.stages.split(',');
  const out = new Uint8Array(SLOT);
  const records: Buffer[] = [];
  const zstdOut = Buffer.allocUnsafe(zstd.compressBound(SLOT));
  console.log(JSON.stringify({ pid: process.pid, rows, batches: batches.length, mb: Math.round(bytes.length / 1e6) }));
  for (let rep = 0; rep < Number(args.reps); rep++) {
    const seconds: Record<string, number> = {};
    let recordBytes = 0;
    let compressed = 0;
    let parquetFaults: number | undefined;
    if (stages.includes('frame')) {
      // One index for every batch, as the source reuses a batch buffer's index.
      let index = frameRows(batches[0]!.bytes, batches[0]!.format).index;
      seconds.frame = cpu(() => {
        for (const b of batches) index = frameRows(b.bytes, b.format, index).index;
      });
    }
    if (stages.includes('tally'))
      seconds.tally = cpu(() => {
        const tally = new ReceiptTally();
        for (const b of batches) tally.add(b);
      });
    if (stages.includes('records') || stages.includes('zstd')) {
      seconds.records = cpu(() => {
        for (const b of batches)
          for (let from = 0; from < b.count;) {
            const written = b.recordsInto(out, from);
            recordBytes += written.bytes;
            if (stages.includes('zstd') && rep === 0) records.push(Buffer.from(out.subarray(0, written.bytes)));
            from = written.next;
          }
      });
    }
    if (stages.includes('zstd')) {
      const cctx = new zstd.CCtx();
      cctx.setParameter(zstd.CParameter.compressionLevel, ZSTD_JSON_LINES.level);
      cctx.setParameter(zstd.CParameter.windowLog, ZSTD_JSON_LINES.windowLog);
      cctx.setParameter(zstd.CParameter.targetLength, ZSTD_JSON_LINES.targetLength);
      cctx.setParameter(1002 as zstd.CParameter, 1);
      seconds.zstd = cpu(() => {
        for (const r of records) compressed += cctx.compressStream2(zstdOut, r, zstd.EndDirective.continue)[1];
        compressed += cctx.compressStream2(zstdOut, new Uint8Array(0), zstd.EndDirective.end)[1];
      });
    }
    if (stages.includes('parquet')) {
      const sink = async (chunk: Buffer) => {
        compressed += chunk.length;
      };
      const faults = minorFaults();
      const encoder = await ParquetEncoder.create('zstd', sink);
      const before = process.cpuUsage();
      const mainBefore = mainThreadCpu();
      for (const b of batches) await encoder.write(b);
      await encoder.finish();
      const used = process.cpuUsage(before);
      // The zstd thread's CPU counts in process.cpuUsage too: this is the process's.
      seconds.parquet_process = (used.user + used.system) / 1e6;
      // In clock ticks (10 ms): the main thread's part, without the zstd thread's.
      seconds.parquet_main = mainThreadCpu() - mainBefore;
      parquetFaults = minorFaults() - faults;
    }
    const ns = (s: number) => Math.round((s * 1e9) / rows);
    console.log(
      JSON.stringify({
        rep,
        cpu_s: Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, +v.toFixed(3)])),
        ns_per_row: Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, ns(v)])),
        record_mb: Math.round(recordBytes / 1e6),
        compressed_mb: Math.round(compressed / 1e6),
        parquet_minor_faults: parquetFaults,
      }),
    );
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

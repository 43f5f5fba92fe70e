// Table stages on local disk plus PUT / COPY INTO semantics. PUT only resolves where the file must
// go: the SDK itself copies the file there because the server answers with a LOCAL_FS stage. COPY
// then reads the staged JSON-lines files (gzip, zstd, brotli, deflate or none), honours load metadata (skip files already loaded
// with the same checksum unless FORCE = TRUE) and purges loaded files when PURGE = TRUE.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as zstd from 'zstd-napi';
import type { StageRef, Stmt } from './ast';
import { notExists, type Engine, type QueryResult, type Session, type Table } from './engine';
import { SqlError } from './lexer';
import { coerce, duplicateKey, type Cell, type Json } from './values';

export interface PutInfo {
  location: string; // absolute directory the SDK must copy the file into
  src: string;
  autoCompress: boolean;
  overwrite: boolean;
  sourceCompression: string;
  parallel: number;
}

function stageTable(engine: Engine, s: Session, st: { stage: StageRef }): Table {
  const t = engine.find(s, st.stage.table);
  if (!t) throw notExists('Stage', st.stage.table.map((p) => p.raw).join('.'), '002003', '02000');
  return t;
}

// Resolves a stage-relative directory, refusing paths that would escape the stage directory.
function inStage(t: Table, rel: string): string {
  const abs = path.resolve(t.stageDir, rel);
  if (abs !== t.stageDir && !abs.startsWith(t.stageDir + path.sep)) {
    throw new SqlError('001003', '42000', `SQL compilation error:\ninvalid stage path '${rel}'`);
  }
  return abs;
}

export function preparePut(engine: Engine, s: Session, st: Extract<Stmt, { kind: 'put' }>): PutInfo {
  const t = stageTable(engine, s, st);
  return {
    location: inStage(t, st.stage.path),
    src: st.file,
    autoCompress: st.autoCompress,
    overwrite: st.overwrite,
    sourceCompression: st.sourceCompression,
    parallel: st.parallel,
  };
}

// Stage-relative paths ("prefix/part-0.jsonl.gz") of every file in a table stage.
export function listStage(t: Table): string[] {
  if (!fs.existsSync(t.stageDir)) return [];
  const files = fs.readdirSync(t.stageDir, { recursive: true, withFileTypes: true });
  return files
    .filter((f) => f.isFile())
    .map((f) => path.relative(t.stageDir, path.join(f.parentPath, f.name)).split(path.sep).join('/'))
    .sort();
}

const COPY_COLUMNS = [
  ['file', 'TEXT'],
  ['status', 'TEXT'],
  ['rows_parsed', 'FIXED'],
  ['rows_loaded', 'FIXED'],
  ['error_limit', 'FIXED'],
  ['errors_seen', 'FIXED'],
  ['first_error', 'TEXT'],
  ['first_error_line', 'FIXED'],
  ['first_error_character', 'FIXED'],
  ['first_error_column_name', 'TEXT'],
] as const;

const loadError = (file: string, msg: string) =>
  new SqlError('100069', '22P02', `Error parsing JSON: ${msg}\n  File '${file}', line 1, character 1`);

// COPY's FILE_FORMAT COMPRESSION (for JSON): what each value decompresses with. AUTO detects gzip
// and zstd by their magic bytes (Snowflake also detects bz2 and deflate; it cannot detect brotli,
// which must be named) and reads anything else as uncompressed.
const DECOMPRESS: Record<string, ((b: Buffer) => Buffer) | null> = {
  NONE: (b) => b,
  GZIP: (b) => zlib.gunzipSync(b),
  ZSTD: (b) => zstd.decompress(b),
  BROTLI: (b) => zlib.brotliDecompressSync(b),
  DEFLATE: (b) => zlib.inflateSync(b),
  RAW_DEFLATE: (b) => zlib.inflateRawSync(b),
  BZ2: null,
};
const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const startsWith = (buf: Buffer, magic: number[]) => magic.every((byte, i) => buf[i] === byte);

export const COPY_COMPRESSIONS = ['AUTO', ...Object.keys(DECOMPRESS)];

function detected(buf: Buffer): string {
  if (startsWith(buf, GZIP_MAGIC)) return 'GZIP';
  if (startsWith(buf, ZSTD_MAGIC)) return 'ZSTD';
  return 'NONE';
}

function decode(buf: Buffer, compression: string, rel: string): Buffer {
  const type = compression === 'AUTO' ? detected(buf) : compression;
  const decompress = DECOMPRESS[type];
  if (!decompress) {
    throw new SqlError(
      '001003',
      '42000',
      `SQL compilation error:\ncompression ${compression} not supported (snowflake test bed)`,
    );
  }
  try {
    return decompress(buf);
  } catch {
    throw new SqlError(
      '100109',
      '22000',
      `Invalid data encountered during decompression for file: '${rel}',compression type used: '${type}'`,
    );
  }
}

/**
 * The most Snowflake stores in one VARIANT or VARCHAR value (16 MB): COPY of
 * a larger one fails the statement with 100082 (22000), as after the 2024_08
 * behavior change bundle (before it, 100069 "document is too large").
 */
export const MAX_LOB_BYTES = 16 * 1024 * 1024;

function requireLobSizes(t: Table, row: Cell[], rel: string, line: number): void {
  t.columns.forEach((c, i) => {
    const cell = row[i];
    const value = cell && typeof cell === 'object' && 'variant' in cell ? JSON.stringify(cell.variant) : cell;
    const size = typeof value === 'string' ? Buffer.byteLength(value) : 0;
    if (size > MAX_LOB_BYTES) {
      throw new SqlError(
        '100082',
        '22000',
        `Max LOB size (${MAX_LOB_BYTES}) exceeded, actual size of parsed column is ${size}\n  File '${rel}', line ${line}, character 1\n  Row ${line}, column "${t.name}"["${c.name}":${i + 1}]`,
      );
    }
  });
}

function toRow(t: Table, doc: Json, mode: string, rel: string): Cell[] {
  if (mode === 'NONE') {
    if (t.columns.length !== 1 || t.columns[0]!.type !== 'VARIANT') {
      throw new SqlError(
        '002019',
        '0A000',
        'SQL compilation error:\nJSON file format can produce one and only one column of type variant, object, or array. Use CSV file format if you want to load more than one column.',
      );
    }
    return [{ variant: doc }];
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw loadError(rel, 'JSON value is not an object');
  const keys = Object.keys(doc);
  return t.columns.map((c) => {
    const key = mode === 'CASE_SENSITIVE' ? c.name : keys.find((k) => k.toUpperCase() === c.name.toUpperCase());
    const v = key !== undefined && key in doc ? doc[key] : null;
    return coerce(v ?? null, c.type);
  });
}

export function runCopy(engine: Engine, s: Session, st: Extract<Stmt, { kind: 'copy' }>): QueryResult {
  const t = engine.get(s, st.table);
  const stage = stageTable(engine, s, st);
  const prefix = st.stage.path;
  let files = listStage(stage).filter((f) => f.startsWith(prefix));
  if (st.files) {
    const wanted = new Set(st.files.map((f) => path.posix.join(prefix, f)));
    files = files.filter((f) => wanted.has(f));
  }
  if (st.pattern) {
    const re = new RegExp(`^(?:${st.pattern})$`);
    files = files.filter((f) => re.test(f));
  }
  // Everything is parsed and converted before any state changes (ON_ERROR = ABORT_STATEMENT).
  const loads: { rel: string; checksum: string; parsed: number; rows: Cell[][] }[] = [];
  for (const rel of files) {
    const buf = fs.readFileSync(path.join(stage.stageDir, rel));
    const checksum = crypto.createHash('md5').update(buf).digest('hex');
    if (!st.force && t.loadHistory.get(rel)?.checksum === checksum) continue; // load metadata
    const text = decode(buf, st.compression, rel);
    if (!engine.keepLoadedRows) {
      loads.push({ rel, checksum, parsed: countLines(text), rows: [] });
      continue;
    }
    const lines = text.toString('utf8').split('\n');
    const rows: Cell[][] = [];
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      let doc: Json;
      try {
        doc = JSON.parse(line) as Json;
      } catch (err) {
        throw new SqlError(
          '100069',
          '22P02',
          `Error parsing JSON: ${(err as Error).message}\n  File '${rel}', line ${i + 1}`,
        );
      }
      const duplicate = st.allowDuplicate ? undefined : duplicateKey(line);
      if (duplicate !== undefined) {
        throw new SqlError(
          '100069',
          '22P02',
          `Error parsing JSON: duplicate object attribute ${JSON.stringify(duplicate)}\n  File '${rel}', line ${i + 1}`,
        );
      }
      const row = toRow(t, doc, st.matchByColumnName, rel);
      if (line.length > MAX_LOB_BYTES / 4) requireLobSizes(t, row, rel, i + 1);
      rows.push(row);
    });
    loads.push({ rel, checksum, parsed: rows.length, rows });
  }
  if (loads.length === 0) {
    return {
      columns: [{ name: 'status', type: 'TEXT' }],
      rows: [['Copy executed with 0 files processed.']],
      statementTypeId: 0x3000,
    };
  }
  engine.touch(s, t);
  t.rows = [...t.rows, ...loads.flatMap((l) => l.rows)];
  for (const l of loads) {
    t.loadHistory.set(l.rel, { checksum: l.checksum, rows: l.parsed, loadedAt: new Date() });
    if (st.purge) fs.rmSync(path.join(stage.stageDir, l.rel), { force: true });
  }
  return {
    columns: COPY_COLUMNS.map(([name, type]) => ({ name, type })),
    rows: loads.map((l) => [l.rel, 'LOADED', l.parsed, l.parsed, 1, 0, null, null, null, null]),
    statementTypeId: 0x3000,
  };
}

// Non-blank lines, the rows a JSON Lines file loads (a server that keeps no rows checks no JSON).
function countLines(text: Buffer): number {
  const blank = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d;
  let rows = 0;
  for (let start = 0; start < text.length;) {
    let end = text.indexOf(0x0a, start);
    if (end < 0) end = text.length;
    let i = start;
    while (i < end && blank(text[i]!)) i++;
    if (i < end) rows++;
    start = end + 1;
  }
  return rows;
}

// REMOVE @%t/prefix [PATTERN=...] deletes staged files; LIST shows them.
export function runRemoveOrList(
  engine: Engine,
  s: Session,
  st: Extract<Stmt, { kind: 'remove' | 'list' }>,
): QueryResult {
  const t = stageTable(engine, s, st);
  const re = st.pattern ? new RegExp(`^(?:${st.pattern})$`) : undefined;
  const files = listStage(t).filter((f) => f.startsWith(st.stage.path) && (!re || re.test(f)));
  if (st.kind === 'remove') {
    for (const f of files) fs.rmSync(path.join(t.stageDir, f), { force: true });
    return {
      columns: [
        { name: 'name', type: 'TEXT' },
        { name: 'result', type: 'TEXT' },
      ],
      rows: files.map((f) => [f, 'removed']),
      statementTypeId: 0x6000,
    };
  }
  return {
    columns: [
      { name: 'name', type: 'TEXT' },
      { name: 'size', type: 'FIXED' },
      { name: 'md5', type: 'TEXT' },
    ],
    rows: files.map((f) => {
      const buf = fs.readFileSync(path.join(t.stageDir, f));
      return [f, buf.length, crypto.createHash('md5').update(buf).digest('hex')];
    }),
    statementTypeId: 0x1000,
  };
}

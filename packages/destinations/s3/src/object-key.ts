import { PermanentError, isoSeconds, type Span } from '@bx/core';
import { prefixPathErrors, renderPrefix } from './prefix-template';
import type { S3Config } from './s3-config';

/** A run's interval, and its model's `{table}` (default `events`). */
export type KeySpan = Span & { table?: string };

/** S3's longest object key, in UTF-8 bytes. */
export const S3_KEY_MAX_BYTES = 1024;
/** `{table}` at its longest: a model's table name (`events`, `persons`), with room for another model's. */
const TABLE_MAX_BYTES = 16;
/** Digits of a split file's `<n>` counted when a prefix is checked (9,999,999 files a run); past it a run checks each key. */
const PART_DIGITS = 7;
/** Any instant of the years a run may cover (to 2099): every date variable renders at full width. */
const SOME_INSTANT = Date.UTC(2099, 11, 31, 23, 59, 59);

const COMPRESSION_EXTENSION: Record<string, string> = { gzip: 'gz', brotli: 'br', zstd: 'zst' };

/** `jsonl.gz`, `jsonl`, `parquet`: Parquet compresses inside the file, so it keeps `.parquet`. */
export function fileExtension(config: Pick<S3Config, 'file_format' | 'compression'>): string {
  if (config.file_format === 'Parquet') return 'parquet';
  const ext = config.compression ? COMPRESSION_EXTENSION[config.compression] : undefined;
  return ext ? `jsonl.${ext}` : 'jsonl';
}

/**
 * `<prefix>/` rendered for the run, or '' when the prefix is empty. A prefix
 * that could leave the bucket (`..`) fails the run for good: the API refuses
 * it, this also holds for an export stored before it did.
 */
export function keyPrefix(config: Pick<S3Config, 'prefix'>, span: KeySpan, table = span.table ?? 'events'): string {
  const rendered = renderPrefix(config.prefix, span, table).replace(/^\/+|\/+$/g, '');
  const unsafe = prefixPathErrors(rendered);
  if (unsafe.length) {
    throw new PermanentError(`destination.config.prefix ${unsafe.join('; ')}`, { code: 'InvalidPrefix' });
  }
  return rendered === '' ? '' : `${rendered}/`;
}

/** `<prefix>/<start>-<end>[-<n>].<ext>` (contract: S3 destination). */
export function objectKey(
  config: Pick<S3Config, 'prefix' | 'file_format' | 'compression'>,
  span: KeySpan,
  part?: number,
): string {
  const suffix = part === undefined ? '' : `-${part}`;
  return fitting(`${intervalStem(config, span)}${suffix}.${fileExtension(config)}`, config, span);
}

/** `<prefix>/<start>-<end>`: the start of every key of one interval. */
export function intervalStem(config: Pick<S3Config, 'prefix'>, span: KeySpan): string {
  return `${keyPrefix(config, span)}${isoSeconds(span.start)}-${isoSeconds(span.end)}`;
}

/** `<prefix>/<start>-<end>_manifest.json`, written last when a run is split. */
export function manifestKey(config: Pick<S3Config, 'prefix'>, span: KeySpan): string {
  return fitting(`${intervalStem(config, span)}_manifest.json`, config, span);
}

/** `<prefix>/<start>-<end>_receipt.json`, written after the data (and the manifest): what the run wrote. */
export function receiptKey(config: Pick<S3Config, 'prefix'>, span: KeySpan): string {
  return fitting(`${intervalStem(config, span)}_receipt.json`, config, span);
}

/**
 * The longest key a run of this config can write, in bytes: the prefix with
 * each variable at its longest value, `/<start>-<end>`, and the longest
 * suffix (`_receipt.json`; split files: `-<n>.<ext>`, `_manifest.json`).
 */
export function longestKeyBytes(
  config: Pick<S3Config, 'prefix' | 'file_format' | 'compression' | 'max_file_size_mb'>,
): number {
  const span = { start: SOME_INSTANT, end: SOME_INSTANT, table: 'x'.repeat(TABLE_MAX_BYTES) };
  const suffixes = ['_receipt.json'];
  if (config.max_file_size_mb) suffixes.push('_manifest.json', `-${'9'.repeat(PART_DIGITS)}.${fileExtension(config)}`);
  else suffixes.push(`.${fileExtension(config)}`);
  return Buffer.byteLength(intervalStem(config, span)) + Math.max(...suffixes.map((s) => s.length));
}

/**
 * Every key a run writes, but for split files after the first, checked up
 * front: a run whose keys S3 would refuse fails before it writes anything.
 */
export function checkRunKeys(
  config: Pick<S3Config, 'prefix' | 'file_format' | 'compression' | 'max_file_size_mb'>,
  span: KeySpan,
): void {
  objectKey(config, span, config.max_file_size_mb ? 0 : undefined);
  receiptKey(config, span);
  if (config.max_file_size_mb) manifestKey(config, span);
}

/** The key, or a permanent failure when S3 would refuse it (an export stored before prefixes were measured). */
function fitting(key: string, config: Pick<S3Config, 'prefix'>, span: KeySpan): string {
  const bytes = Buffer.byteLength(key);
  if (bytes <= S3_KEY_MAX_BYTES) return key;
  const prefix = Buffer.byteLength(keyPrefix(config, span));
  throw new PermanentError(
    `object key of ${bytes} bytes is over S3's limit of 1,024: destination.config.prefix renders ${prefix} of them; ` +
      `shorten it by ${bytes - S3_KEY_MAX_BYTES} bytes or more`,
    { code: 'KeyTooLong' },
  );
}

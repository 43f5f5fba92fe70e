import { PermanentError, isoSeconds, type Span } from '@bx/core';
import { prefixPathErrors, renderPrefix } from './prefix-template';
import type { S3Config } from './s3-config';

/** A run's interval, and its model's `{table}` (default `events`). */
export type KeySpan = Span & { table?: string };

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
  return `${intervalStem(config, span)}${suffix}.${fileExtension(config)}`;
}

/** `<prefix>/<start>-<end>`: the start of every key of one interval. */
export function intervalStem(config: Pick<S3Config, 'prefix'>, span: KeySpan): string {
  return `${keyPrefix(config, span)}${isoSeconds(span.start)}-${isoSeconds(span.end)}`;
}

/** `<prefix>/<start>-<end>_manifest.json`, written last when a run is split. */
export function manifestKey(config: Pick<S3Config, 'prefix'>, span: KeySpan): string {
  return `${intervalStem(config, span)}_manifest.json`;
}

/** `<prefix>/<start>-<end>_receipt.json`, written after the data (and the manifest): what the run wrote. */
export function receiptKey(config: Pick<S3Config, 'prefix'>, span: KeySpan): string {
  return `${intervalStem(config, span)}_receipt.json`;
}

import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { RetryableError, type DestinationWriterOptions, type RecordColumn } from '@bx/core';
import type { DestinationResult, DestinationWriter, RecordBatch, RunContext } from '@bx/batch';
import { checkRunKeys, intervalStem, manifestKey, objectKey, receiptKey } from './object-key';
import { openOutputFile, type OutputFile } from './output-file';
import { RunRequests } from './run-requests';
import { checkS3 } from './s3-check';
import { encryptionParams, sharedS3Client } from './s3-client';
import type { S3Config } from './s3-config';
import { RerunCleanup } from './rerun-cleanup';
import { classifyS3Error } from './s3-errors';
import { leanPutOf } from './lean-put';
import { sdkPut, type ObjectPut } from './object-put';

export interface S3DestinationOptions extends DestinationWriterOptions {
  /**
   * Objects of one request (small files, receipts, manifests) sent by
   * LeanPut instead of the SDK's PutObject. Default: on with the shared
   * client, off with a client given (every request goes through it).
   */
  leanPut?: boolean;
}

/** Time the clean-up after a failed or cancelled attempt has (aborting uploads, deleting objects), in ms. */
export const CLEANUP_DEADLINE_MS = 5000;

/**
 * With a file size limit, a batch larger than this part of the limit is
 * written in slices, so that a file passes the limit by at most a slice: a
 * fifth of it (the source's batches are about 2 MiB: limits under 12 MiB).
 */
const PIECES_PER_FILE = 5;
/** JSON keys and punctuation a record adds to its fields' bytes, about: sizes the slices. */
const RECORD_OVERHEAD = 240;

/**
 * Whether `file` has reached `limit` bytes. A file stays below the limit
 * until it is known to have reached it: it ends after the write that took it
 * there, so it passes the limit by at most that write's output. Waits for the
 * compressor only when the output still unknown could reach the limit.
 */
async function full(file: OutputFile, limit: number): Promise<boolean> {
  if (file.upperBytes() < limit) return false;
  await file.settleBelow(limit);
  return file.upperBytes() >= limit;
}

/** `batch` in slices of about `maxBytes` of records (whole rows; at least one a slice). */
function* pieces(batch: RecordBatch, maxBytes: number): Generator<RecordBatch> {
  const bytes = batch.bytes.length + batch.count * RECORD_OVERHEAD;
  if (bytes <= maxBytes) {
    yield batch;
    return;
  }
  const rows = Math.max(1, Math.floor((batch.count * maxBytes) / bytes));
  for (let at = 0; at < batch.count; at += rows) yield batch.slice(at, Math.min(batch.count, at + rows));
}

/**
 * Writes a run's records (of any model: `{table}` is the model's) to S3 as
 * JSON Lines or Parquet, streamed through multipart uploads.
 * With `max_file_size_mb` the run is split into `-0`, `-1`, … files and a
 * manifest listing them is written after them. Then comes the receipt
 * (`_receipt.json`: rows, checksum, files, version). An interval without
 * rows writes nothing (as PostHog) unless it held rows before: a re-run that
 * leaves it empty writes a receipt of 0 rows.
 *
 * Re-running an interval leaves one copy: uploads a crashed attempt left open
 * are aborted first, the interval's receipt (and a split interval's manifest)
 * is removed while its files are rewritten (no receipt = incomplete), and objects of the interval that this
 * attempt did not write are deleted before the new manifest goes up.
 */
export class S3Destination implements DestinationWriter {
  private readonly client: S3Client;
  private readonly lean: ObjectPut | null;

  /** `client`: the export's client; by default the one shared by runs with the same endpoint and credentials. */
  constructor(
    private readonly config: S3Config,
    client?: S3Client,
    opts: S3DestinationOptions = {},
  ) {
    this.client = client ?? sharedS3Client(config, opts.network);
    this.lean = (opts.leanPut ?? !client) ? leanPutOf(this.client).put : null;
  }

  async write(batches: AsyncIterable<RecordBatch>, ctx: RunContext): Promise<DestinationResult> {
    // The run's requests, and only they, stop when it does (the client is shared).
    const requests = new RunRequests();
    // Cancelled or shut down: what is under way stops now, the clean-up below has until the deadline.
    const onAbort = () => {
      requests.abortInFlight('run aborted');
      requests.deadline(CLEANUP_DEADLINE_MS, `S3 clean-up did not finish within ${CLEANUP_DEADLINE_MS} ms`);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.writeRun(batches, ctx, requests);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      requests.close();
    }
  }

  private async writeRun(
    batches: AsyncIterable<RecordBatch>,
    ctx: RunContext,
    requests: RunRequests,
  ): Promise<DestinationResult> {
    if (ctx.signal.aborted) throw new RetryableError('run aborted', { code: 'Aborted' });
    const span = { start: ctx.dataIntervalStart, end: ctx.dataIntervalEnd, table: ctx.model.table };
    checkRunKeys(this.config, span);
    const splitBytes = this.config.max_file_size_mb ? this.config.max_file_size_mb * 1024 * 1024 : null;
    const result: DestinationResult = { records: 0, bytes: 0, files: [] };
    const run = requests.client(this.client);
    const put = this.lean ? requests.put(this.lean) : sdkPut(run);
    const cleanup = new RerunCleanup(
      run,
      this.config.bucket_name,
      intervalStem(this.config, span),
      ctx.state,
      ctx.logger,
      `${this.config.endpoint_url ?? 'aws'} ${this.config.region}`,
    );
    let current: OutputFile | null = null;
    const client = cleanup.tracking();
    try {
      await cleanup.abortStaleUploads();
      // A first attempt finds nothing of the interval to take down.
      if (!ctx.state.fresh) await this.deleteObject(run, receiptKey(this.config, span));
      if (splitBytes !== null) await this.deleteObject(run, manifestKey(this.config, span));
      for await (const batch of batches) {
        if (ctx.signal.aborted) throw new RetryableError('run aborted', { code: 'Aborted' });
        for (const piece of splitBytes === null ? [batch] : pieces(batch, splitBytes / PIECES_PER_FILE)) {
          if (!current) {
            // Before the interval's first object: a later attempt that writes elsewhere deletes it.
            await cleanup.recordLocation();
            current = await this.open(
              client,
              put,
              objectKey(this.config, span, splitBytes ? result.files.length : undefined),
              ctx.model.columns,
            );
          }
          await current.write(piece);
          result.records += piece.count;
          ctx.onProgress(result.records);
          if (splitBytes !== null && (await full(current, splitBytes))) {
            await cleanup.requireLatest();
            result.bytes += await current.finish();
            result.files.push(current.key);
            current = null;
          }
        }
      }
      if (current) {
        await cleanup.requireLatest();
        result.bytes += await current.finish();
        result.files.push(current.key);
        current = null;
      }
      await cleanup.deleteStale(result.files);
      // Nothing of a later attempt is replaced: every object, the manifest and receipt included.
      await cleanup.requireLatest();
      if (splitBytes !== null && result.files.length > 0) {
        await this.putJson(put, manifestKey(this.config, span), { files: result.files });
      }
      if (ctx.receipt && (result.files.length > 0 || !ctx.state.fresh)) {
        result.receipt = ctx.receipt.build(result.files);
        await this.putJson(put, receiptKey(this.config, span), {
          export_id: ctx.exportId,
          data_interval_start: new Date(span.start).toISOString(),
          data_interval_end: new Date(span.end).toISOString(),
          ...result.receipt,
        });
      }
      await cleanup.done();
      return result;
    } catch (err) {
      requests.deadline(CLEANUP_DEADLINE_MS, `S3 clean-up did not finish within ${CLEANUP_DEADLINE_MS} ms`);
      const unfinished = current?.key;
      await current?.abort();
      // Cancelled or shut down: leave no object of this attempt behind, the one being
      // written included (S3 may have stored it before the abort cut its answer short).
      if (ctx.signal.aborted) await cleanup.deleteQuietly(unfinished ? [...result.files, unfinished] : result.files);
      throw classifyS3Error(err, 'upload');
    }
  }

  /** Writes and deletes a small object with the export's credentials (see checkS3). */
  check(): Promise<void> {
    return checkS3(this.config, {}, this.client);
  }

  private open(client: S3Client, put: ObjectPut, key: string, columns: readonly RecordColumn[]): Promise<OutputFile> {
    return openOutputFile(
      this.config,
      {
        measured: Boolean(this.config.max_file_size_mb),
        client,
        put,
        bucket: this.config.bucket_name,
        key,
        params: encryptionParams(this.config),
      },
      columns,
    );
  }

  private async deleteObject(client: S3Client, key: string): Promise<void> {
    await client.send(new DeleteObjectCommand({ Bucket: this.config.bucket_name, Key: key }));
  }

  private async putJson(put: ObjectPut, key: string, body: unknown): Promise<void> {
    await put({
      Bucket: this.config.bucket_name,
      Key: key,
      Body: JSON.stringify(body),
      ContentType: 'application/json',
      ...encryptionParams(this.config),
    });
  }
}

import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { RetryableError, type BatchExportError, type Logger } from '@bx/core';
import { isLatestAttempt, requireLatestAttempt, type RunState } from '@bx/batch';
import { classifyS3Error } from './s3-errors';

/** What an attempt records so that the next one can clean up after a crash. */
export interface S3RunState {
  /**
   * `bucket`: where the upload was opened (absent in states of earlier versions: the export's
   * bucket then). A PATCH may move the export to another bucket before the next attempt, and S3
   * knows an upload id only under its own bucket and key.
   */
  uploads: Array<{ key: string; upload_id: string; bucket?: string; service?: string }>;
  /**
   * Where the attempt writes the interval's objects (its bucket and stem), recorded before the
   * first one and cleared when the attempt finishes: a later attempt that writes elsewhere (the
   * export's bucket or prefix PATCHed meanwhile) deletes what the unfinished one left there.
   */
  location?: { bucket: string; stem: string; service?: string };
}

/**
 * Makes a re-run of an interval leave exactly one copy: aborts multipart
 * uploads a crashed attempt left open, and deletes objects of the interval
 * that the new attempt did not write (a split into 3 files after one into 5).
 * A run's first attempt (state.fresh) has nothing to clean up and makes no
 * list request: most runs are first attempts, and listing is per-run cost.
 */
export class RerunCleanup {
  private readonly uploads: S3RunState['uploads'] = [];
  private location: S3RunState['location'];

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    /** `<prefix>/<start>-<end>`: every object of the interval starts with it. */
    private readonly stem: string,
    private readonly state: RunState,
    private readonly logger: Logger,
    /**
     * The S3 service written to (`<endpoint_url or aws> <region>`), recorded with each upload and
     * location: a PATCH may move the export to another endpoint or region, where the same bucket
     * name is another bucket (another deployment's); what was left at the old service is not
     * reachable through this client, and is left to the bucket's lifecycle rule.
     */
    private readonly service = '',
  ) {}

  /** Whether `place` (recorded by an earlier attempt) is on the service this attempt's client reaches. */
  private reachable(place: { service?: string }, what: string, where: Record<string, unknown>): boolean {
    if (place.service === undefined || place.service === this.service) return true;
    this.logger.warn(`${what} left by an earlier attempt on another S3 endpoint or region: left as it is`, where);
    return false;
  }

  /**
   * The client this attempt writes through: the export's shared client, with
   * each multipart upload it opens recorded in the run's state before any
   * part is sent. A wrapper per attempt, not middleware on the client, which
   * every run sharing the client would run.
   */
  tracking(): S3Client {
    const client = this.client;
    const tracked = Object.create(client) as S3Client;
    const send = async (command: unknown, options?: unknown): Promise<unknown> => {
      const output = await (client.send as (c: unknown, o?: unknown) => Promise<unknown>).call(
        client,
        command,
        options,
      );
      const uploadId = (output as { UploadId?: string } | undefined)?.UploadId;
      if (command instanceof CreateMultipartUploadCommand && uploadId) {
        const upload = {
          key: command.input.Key!,
          upload_id: uploadId,
          bucket: command.input.Bucket ?? this.bucket,
          ...(this.service && { service: this.service }),
        };
        this.uploads.push(upload);
        try {
          await this.save();
        } catch (err) {
          // Not recorded (a later attempt took over, or Redis is away): no later attempt would abort it.
          this.uploads.splice(this.uploads.indexOf(upload), 1);
          await client
            .send(new AbortMultipartUploadCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: uploadId }))
            .catch(() => undefined);
          throw err;
        }
      }
      return output;
    };
    tracked.send = send as S3Client['send'];
    return tracked;
  }

  /**
   * Aborts uploads recorded by earlier attempts, and any the server lists
   * under the stem. One that cannot be aborted for now (S3 throttling, a
   * reset) stays recorded and fails the attempt (retryable): the next attempt
   * tries again, so no upload is forgotten while still open.
   */
  async abortStaleUploads(): Promise<number> {
    if (this.state.fresh) return 0;
    // The uploads listed under the stem are those of a later attempt if one started meanwhile.
    await this.requireLatest();
    const state = await this.state.get<S3RunState>();
    const recorded = state?.uploads ?? [];
    const open = recorded.filter((u) =>
      this.reachable(u, 'a multipart upload', { bucket: u.bucket ?? this.bucket, key: u.key }),
    );
    // Where the export writes now, and where an unfinished attempt wrote before a PATCH moved it:
    // an upload opened there whose id the killed attempt had no time to record is listed too.
    const earlier =
      state?.location && this.reachable(state.location, 'objects and uploads', { ...state.location })
        ? state.location
        : undefined;
    const places = [{ bucket: this.bucket, stem: this.stem }];
    if (earlier && (earlier.bucket !== this.bucket || earlier.stem !== this.stem)) places.push(earlier);
    for (const { bucket, stem } of places) {
      try {
        const listed = await this.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: stem }));
        for (const u of listed.Uploads ?? [])
          if (u.Key && u.UploadId) open.push({ key: u.Key, upload_id: u.UploadId, bucket });
      } catch {
        // Not every S3-compatible server lists uploads; the recorded ones still get aborted.
      }
    }
    const unique = [...new Map(open.map((u) => [u.upload_id, u])).values()];
    let aborted = 0;
    const pending: S3RunState['uploads'] = [];
    let failure: BatchExportError | null = null;
    for (const upload of unique) {
      try {
        await this.client.send(
          new AbortMultipartUploadCommand({
            Bucket: upload.bucket ?? this.bucket,
            Key: upload.key,
            UploadId: upload.upload_id,
          }),
        );
        aborted++;
      } catch (err) {
        const error = classifyS3Error(err, "abort of an earlier attempt's multipart upload");
        // NoSuchUpload: completed or aborted already, nothing left open.
        if (error.code === 'NoSuchUpload') continue;
        if (error instanceof RetryableError) {
          // Kept for the next attempt: forgetting it would leave the upload open for good.
          pending.push(upload);
          failure ??= error;
        } else {
          // Refused for good (no permission, or a server without the operation): no attempt can do better.
          this.logger.warn('could not abort a multipart upload left by an earlier attempt', {
            bucket: upload.bucket ?? this.bucket,
            key: upload.key,
            error: error.message,
          });
        }
      }
    }
    if (failure) {
      this.uploads.push(...pending);
      await this.state.set({ uploads: this.uploads, location: state?.location } satisfies S3RunState);
      throw failure;
    }
    if (earlier) await this.deleteMoved(earlier);
    if (recorded.length || state?.location) await this.save();
    if (aborted) this.logger.info('aborted multipart uploads left by an earlier attempt', { aborted });
    return aborted;
  }

  /** Records where this attempt writes, before its first object: see S3RunState.location. */
  async recordLocation(): Promise<void> {
    if (this.location) return;
    this.location = { bucket: this.bucket, stem: this.stem, ...(this.service && { service: this.service }) };
    await this.save();
  }

  /**
   * Deletes the objects an unfinished earlier attempt wrote where the export no longer writes
   * (its bucket or prefix changed since): they would be a second, partial copy of the interval.
   * A delete S3 refuses for good (no permission there any more, the bucket gone) is logged and
   * given up; one that may succeed later fails the attempt, the location still recorded.
   */
  private async deleteMoved(earlier: NonNullable<S3RunState['location']>): Promise<void> {
    if (earlier.bucket === this.bucket && earlier.stem === this.stem) return;
    try {
      const deleted = await deleteUnder(this.client, earlier.bucket, earlier.stem, () => true);
      if (deleted.length)
        this.logger.info('deleted objects an earlier attempt left where the export wrote before', {
          bucket: earlier.bucket,
          deleted: deleted.length,
        });
    } catch (err) {
      const error = classifyS3Error(err, "delete of an earlier attempt's objects where the export wrote before");
      if (error instanceof RetryableError) throw error;
      this.logger.warn('could not delete objects an earlier attempt left where the export wrote before', {
        bucket: earlier.bucket,
        stem: earlier.stem,
        error: error.message,
      });
    }
  }

  /** Deletes the interval's objects that are not in `keep`; returns the deleted keys. */
  async deleteStale(keep: readonly string[]): Promise<string[]> {
    // The first attempt of a run: every object of the run is one it wrote.
    if (this.state.fresh) return [];
    // A later attempt's objects are the interval's: an attempt it superseded deletes none of them.
    await this.requireLatest();
    const stale = await deleteUnder(this.client, this.bucket, this.stem, (key) => !keep.includes(key));
    if (stale.length) this.logger.info('deleted objects of an earlier attempt', { deleted: stale.length });
    return stale;
  }

  /**
   * Best-effort delete of objects this attempt wrote (a cancelled or shut-down attempt), unless a
   * later attempt has started: the keys are the interval's, so they may hold that attempt's
   * objects now. When that cannot be told (Redis away), nothing is deleted: an object left of a
   * cancelled attempt is the lesser harm.
   */
  async deleteQuietly(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    if (!(await isLatestAttempt(this.state).catch(() => false))) {
      this.logger.warn('objects of an aborted attempt left: a later attempt may have written them', { keys });
      return;
    }
    await this.client
      .send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        }),
      )
      .catch((err: unknown) => this.logger.warn('could not delete objects of an aborted attempt', { keys, err }));
  }

  /**
   * Throws (retryable, code `Superseded`) once a later attempt of the run has started: called
   * before each object is completed and before each delete, so that an attempt that lost its lock
   * does not replace or remove what the later one wrote.
   */
  requireLatest(): Promise<void> {
    return requireLatestAttempt(this.state);
  }

  /** The attempt finished: nothing is left open. */
  async done(): Promise<void> {
    // Uploads of earlier attempts were cleared when they were aborted; only this attempt's remain recorded.
    if (this.uploads.length || this.location) await this.state.set({ uploads: [] } satisfies S3RunState);
  }

  private save(): Promise<void> {
    return this.state.set({ uploads: this.uploads, location: this.location } satisfies S3RunState);
  }
}

/** Deletes the objects under `prefix` in `bucket` that `stale` picks; returns their keys. */
async function deleteUnder(
  client: S3Client,
  bucket: string,
  prefix: string,
  stale: (key: string) => boolean,
): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const obj of page.Contents ?? []) if (obj.Key && stale(obj.Key)) keys.push(obj.Key);
    token = page.NextContinuationToken;
  } while (token);
  for (let i = 0; i < keys.length; i += 1000) {
    await client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
      }),
    );
  }
  return keys;
}

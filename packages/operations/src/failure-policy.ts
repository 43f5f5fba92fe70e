import type { Logger } from '@bx/core';
import type { Store } from '@bx/store';
import { AlertWebhook } from './alert-webhook';

export interface FailurePolicyOptions {
  /** Consecutive failed runs that pause an export; 0 never pauses. */
  threshold: number;
  /** Receives a JSON notice when an export is paused. */
  webhookUrl?: string;
  /** At most one notice per export in this many seconds. */
  alertEverySeconds?: number;
  fetch?: typeof fetch;
}

/**
 * After N consecutive failed runs an export is paused with the reason stored
 * on it, and a webhook is told (at most once a day per export), as PostHog
 * does, so a broken destination stops burning retries until someone looks.
 */
export class FailurePolicy {
  private readonly webhook: AlertWebhook;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly opts: FailurePolicyOptions,
  ) {
    this.webhook = new AlertWebhook(opts.webhookUrl, logger, opts.fetch);
  }

  async failed(exportId: string, error: string): Promise<void> {
    const failures = await this.store.exports.recordFailure(exportId);
    if (this.opts.threshold === 0 || failures < this.opts.threshold) return;
    const reason = `paused after ${failures} consecutive failed runs; last error: ${error}`.slice(0, 2000);
    // Only `paused` and its reason change, on the export as stored when written: a PATCH
    // meanwhile is kept, and the schedule is left in the same step.
    const change = await this.store.exports.modify(exportId, (current) =>
      current.paused ? null : { ...current, paused: true, paused_reason: reason, updated_at: new Date().toISOString() },
    );
    // Deleted, or paused by someone else: nothing to do.
    if (!change?.written) return;
    const exp = change.after;
    this.logger.warn('export auto-paused', { export_id: exportId, failures, error });
    if (
      this.opts.webhookUrl &&
      (await this.store.exports.claimAlert(exportId, this.opts.alertEverySeconds ?? 86_400))
    ) {
      await this.webhook.notify({
        type: 'batch_export.auto_paused',
        export_id: exp.id,
        name: exp.name,
        team_id: exp.team_id,
        destination: exp.destination.type,
        consecutive_failures: failures,
        last_error: error,
        paused_at: new Date().toISOString(),
      });
    }
  }
}

import { errorMessage, type Logger } from '@bx/core';

/**
 * ALERT_WEBHOOK_URL: a JSON POST per notice (auto-pause, reconciliation),
 * within 10 s. A webhook that fails is logged, never retried: the notice is
 * also a log line.
 */
export class AlertWebhook {
  constructor(
    private readonly url: string | undefined,
    private readonly logger: Logger,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  get enabled(): boolean {
    return Boolean(this.url);
  }

  async notify(body: Record<string, unknown>): Promise<void> {
    if (!this.url) return;
    try {
      const res = await this.fetchImpl(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      this.logger.error('alert webhook failed', { export_id: body.export_id, type: body.type, err: errorMessage(err) });
    }
  }
}

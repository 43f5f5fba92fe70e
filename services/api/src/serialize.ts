import type { BatchExport, Run } from '@bx/core';
import { withoutSecrets } from '@bx/destinations';

/** An export as the API shows it: no secret values. */
export function exportView(exp: BatchExport, latestRuns?: Run[]): Record<string, unknown> {
  return {
    ...exp,
    paused_reason: exp.paused_reason ?? null,
    auto_repair: exp.auto_repair ?? true,
    destination: withoutSecrets(exp.destination),
    ...(latestRuns ? { latest_runs: latestRuns } : {}),
  };
}

import { withoutSecrets, type BatchExport, type Run } from '@bx/core';

/** An export as the API shows it: no secret values. */
export function exportView(exp: BatchExport, latestRuns?: Run[]): Record<string, unknown> {
  return {
    ...exp,
    paused_reason: exp.paused_reason ?? null,
    destination: withoutSecrets(exp.destination),
    ...(latestRuns ? { latest_runs: latestRuns } : {}),
  };
}

import { errorMessage, isRetryable, modelSchema, type BatchExport, type DestinationConfig } from '@bx/core';
import type { DestinationCheckOptions } from '@bx/core';
import { modelPlugin } from '@bx/models';

/** What `POST /api/exports/:id/test` answers (and the console shows). */
export interface DestinationTestResult {
  status: 'ok' | 'error';
  message: string;
  code?: string | null;
  retryable?: boolean;
}

export type CheckDestination = (destination: DestinationConfig, opts: DestinationCheckOptions) => Promise<void>;

/**
 * Reaches the destination with the export's credentials (a table destination
 * checks an existing table against the export's model); the outcome is the
 * answer, not an error (contract: 200 `{status: "ok" | "error", message,
 * retryable}`). The API route and the console both call this.
 */
export async function testDestination(
  exp: BatchExport,
  check: CheckDestination,
  signal?: AbortSignal,
): Promise<DestinationTestResult> {
  try {
    await check(exp.destination, { signal, model: modelSchema(modelPlugin(exp.model)) });
    return { status: 'ok', message: `${exp.destination.type} destination reachable and writable` };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      status: 'error',
      message: errorMessage(err),
      code: typeof code === 'string' ? code : null,
      retryable: isRetryable(err),
    };
  }
}

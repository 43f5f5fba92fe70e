import { errorMessage, isRetryable, type BatchExport, type DestinationConfig, type DestinationWriter } from '@bx/core';

/** What `POST /api/exports/:id/test` answers (and the console shows). */
export interface DestinationTestResult {
  status: 'ok' | 'failed';
  message: string;
  code?: string | null;
  retryable?: boolean;
}

/**
 * Reaches the destination with the export's credentials; the outcome is the
 * answer, not an error. The same as the route `POST /api/exports/:id/test`
 * (routes/exports.ts), which other branches are changing (a deadline, an
 * abort when the client goes away, plug-in checks): once they are in, the
 * route and the console should share this function.
 */
export async function testDestination(
  exp: BatchExport,
  destinationFor: (d: DestinationConfig) => DestinationWriter,
): Promise<DestinationTestResult> {
  try {
    await destinationFor(exp.destination).check();
    return { status: 'ok', message: `${exp.destination.type} destination reachable and writable` };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      status: 'failed',
      message: errorMessage(err),
      code: typeof code === 'string' ? code : null,
      retryable: isRetryable(err),
    };
  }
}

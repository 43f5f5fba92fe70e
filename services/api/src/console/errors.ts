import { BatchExportError, ConflictError, NotFoundError, ValidationError } from '@bx/core';
import { CsrfRefusedError } from '../admin-session';
import type { ErrorDetail } from './form-controls';

/** An expected error of an action, as the page shows it. */
export interface ActionError {
  status: number;
  code: string;
  message: string;
  details: ErrorDetail[];
}

/**
 * The API's answer for the errors a page can expect (the same codes as
 * error-handler.ts); null for anything else, which the API would answer 500.
 * A `code` on a validation error (e.g. `secrets_required`) is kept.
 */
export function actionError(err: unknown): ActionError | null {
  const code = (err as { code?: unknown }).code;
  if (err instanceof ValidationError) {
    const details = err.details.filter((d): d is ErrorDetail => typeof d?.field === 'string');
    return { status: 400, code: typeof code === 'string' ? code : 'invalid_input', message: err.message, details };
  }
  if (err instanceof NotFoundError) return { status: 404, code: 'not_found', message: err.message, details: [] };
  // A path id that is not even percent-encoding (Express could not decode it).
  if (err instanceof URIError) return { status: 404, code: 'not_found', message: 'not found', details: [] };
  if (err instanceof CsrfRefusedError) return { status: 403, code: err.code, message: err.message, details: [] };
  if (err instanceof ConflictError) return { status: 409, code: 'conflict', message: err.message, details: [] };
  if (err instanceof BatchExportError)
    return { status: err.retryable ? 503 : 502, code: err.code, message: err.message, details: [] };
  return null;
}

import type { ConsoleDeps } from './deps';
import type { BackfillProgress } from './pages/backfill-section';
import type { RunLogLine } from './pages/run-page';

/*
 * Calls of the services that the run/backfill rework adds (run logs, backfill
 * dry run, cancel and list). They are reached through this one module so the
 * console builds on main before that work lands, and shows what it can: once
 * it has, these become plain calls.
 */

interface RunsWithLogs {
  logs?: (exportId: string, runId: string) => Promise<RunLogLine[]>;
}
interface BackfillsWithMore {
  cancel?: (exportId: string, backfillId: string) => Promise<unknown>;
  list?: (exportId: string, limit?: number) => Promise<BackfillProgress[]>;
}

/** The run's log lines, oldest first; null where the API keeps none. */
export async function runLogs(deps: ConsoleDeps, exportId: string, runId: string): Promise<RunLogLine[] | null> {
  const runs = deps.runs as unknown as RunsWithLogs;
  return runs.logs ? runs.logs.call(deps.runs, exportId, runId) : null;
}

export async function cancelBackfill(deps: ConsoleDeps, exportId: string, backfillId: string): Promise<void> {
  const backfills = deps.backfills as unknown as BackfillsWithMore;
  if (!backfills.cancel) throw new Error('this version cannot cancel a backfill');
  await backfills.cancel.call(deps.backfills, exportId, backfillId);
}

/** The export's latest backfills, newest first; [] where the API cannot list them. */
export async function recentBackfills(deps: ConsoleDeps, exportId: string, limit: number): Promise<BackfillProgress[]> {
  const backfills = deps.backfills as unknown as BackfillsWithMore;
  return backfills.list ? backfills.list.call(deps.backfills, exportId, limit) : [];
}

/** What `BackfillService.create` answered: `{plan}` for a dry run, `{backfill}` otherwise. */
export function backfillAnswer(answer: unknown): { plan: Record<string, unknown> | null; backfillId: string | null } {
  const a = answer as { plan?: Record<string, unknown>; backfill?: { id?: unknown } };
  if (a.plan) return { plan: a.plan, backfillId: null };
  return { plan: null, backfillId: typeof a.backfill?.id === 'string' ? a.backfill.id : null };
}

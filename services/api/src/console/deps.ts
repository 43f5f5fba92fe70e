import type { Logger } from '@bx/core';
import type { BackfillService, ExportService, RunService } from '@bx/operations';
import type { Store } from '@bx/store';
import type { AdminSessions } from '../admin-session';
import type { CheckDestination } from '../destination-test';

/** What the console pages use: the same services as the API routes. */
export interface ConsoleDeps {
  token: string;
  sessions: AdminSessions;
  service: ExportService;
  runs: RunService;
  backfills: BackfillService;
  /** Lag counters, read as /metrics reads them. */
  store: Pick<Store, 'stats'>;
  checkDestination: CheckDestination;
  logger: Logger;
}

import { createBullBoard } from '@bull-board/api';
import { ExpressAdapter } from '@bull-board/express';
import type { BullMqRunQueue } from '@bx/queue';
import type { Express } from 'express';

/** Where Bull Board is mounted (contract: `/admin/queues`). */
export const BULL_BOARD_PATH = '/admin/queues';

/**
 * Bull Board over every queue the system uses (BullMqRunQueue.boardAdapters). In
 * read-only mode its API refuses every change (retry, clean, pause, remove)
 * and its UI hides the buttons. Authentication is the caller's: mount it
 * behind AdminSessions.middleware().
 */
export function bullBoardApp(queue: Pick<BullMqRunQueue, 'boardAdapters'>, opts: { readOnly: boolean }): Express {
  const serverAdapter = new ExpressAdapter().setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: queue.boardAdapters({ readOnly: opts.readOnly }),
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'batch-exports queues',
        // Back to the console (services/api/src/console), which links here.
        miscLinks: [{ text: 'Exports console', url: '/admin/exports' }],
      },
    },
  });
  return serverAdapter.getRouter() as Express;
}

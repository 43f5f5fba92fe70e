import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { RunQueue } from '@bx/queue';
import type { Express } from 'express';

/** Where Bull Board is mounted (contract: `/admin/queues`). */
export const BULL_BOARD_PATH = '/admin/queues';

/**
 * Bull Board over every queue the system uses (RunQueue.queues()). In
 * read-only mode its API refuses every change (retry, clean, pause, remove)
 * and its UI hides the buttons. Authentication is the caller's: mount it
 * behind AdminSessions.middleware().
 */
export function bullBoardApp(queue: Pick<RunQueue, 'queues'>, opts: { readOnly: boolean }): Express {
  const serverAdapter = new ExpressAdapter().setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: queue.queues().map((q) => new BullMQAdapter(q, { readOnlyMode: opts.readOnly })),
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

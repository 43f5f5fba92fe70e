import { chaosServices } from './chaos-services';
import { reportCount, summaryTable } from './summary';

// Loaded with --require by `npm run test:chaos` (scripts/test-chaos.sh).
export const mochaHooks = {
  beforeAll() {
    if (!chaosServices.ready) {
      throw new Error(
        'the chaos suite stops and restarts Redis and ClickHouse, so it runs only against services of its own: use npm run test:chaos',
      );
    }
  },
  afterAll() {
    if (reportCount() === 0) return;
    process.stdout.write(`\nChaos summary\n\n${summaryTable()}\n\n`);
  },
};

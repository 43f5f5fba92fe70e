import { expect } from 'chai';
import fs from 'node:fs';
import type { DestinationWriter, RunContext } from '@bx/batch';
import type { EventFilter, IntervalReadBack, ReadBackRequest } from '@bx/core';
import { PostgresDestination, readBackPostgres } from '@bx/destination-postgres';
import { SnowflakeDestination, readBackSnowflake } from '@bx/destination-snowflake';
import { asRows, makeEvent, rowBatches, type SourceEvent } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { MemoryRunState, runContext } from '../helpers/run-context';
import { snowflakeConfig, startSnowflakeServer, tmpDir, type SnowflakeServer } from '../helpers/snowflake';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };

/**
 * Two exports of one team into one table, told apart by their event
 * filters (PostHog's users split events so). Each run replaces its
 * interval's rows: it deleted every row of the team in the interval, the
 * other export's included, and `npm run verify` counted them as its own.
 */
describe('two exports of one team into one table, with event filters', function () {
  this.timeout(60_000);

  // An event name PostgreSQL cannot hold as it is (NUL) and one that needs quoting.
  const names = ['$pageview', 'it\'s "q" \\ \0', '$autocapture'];
  const events: SourceEvent[] = names.flatMap((event, i) =>
    [0, 1].map((k) => makeEvent({ inserted_at: `2024-01-01 10:${10 + i}:0${k}`, event })),
  );
  const exports: Record<'views' | 'others' | 'hostile', EventFilter> = {
    // Only page views, and everything but page views.
    views: { include_events: ['$pageview'], exclude_events: [] },
    others: { include_events: [], exclude_events: ['$pageview'] },
    // Of the others, one name: exported by both 'others' and 'hostile'.
    hostile: { include_events: [names[1]!], exclude_events: [] },
  };
  type Name = keyof typeof exports;
  const selected = (name: Name) =>
    events.filter(
      (e) =>
        (exports[name].include_events.length === 0 || exports[name].include_events.includes(e.event)) &&
        !exports[name].exclude_events.includes(e.event),
    );
  const ctx = (name: Name): RunContext => ({
    ...runContext(span, new MemoryRunState()),
    exportId: name,
    runId: `run-${name}`,
    events: exports[name],
  });

  async function exercise(
    writer: () => DestinationWriter,
    readBack: (request: ReadBackRequest) => Promise<Map<number, IntervalReadBack>>,
    uuids: () => Promise<string[]>,
  ): Promise<void> {
    for (const name of ['views', 'others', 'hostile', 'views', 'others'] as const) {
      await writer().write(rowBatches(asRows(selected(name)), 2), ctx(name));
    }
    // Each event once, none lost: 'hostile' and 'others' both replace the hostile name's rows.
    expect(await uuids()).to.deep.equal(events.map((e) => e.uuid).sort());
    for (const name of Object.keys(exports) as Name[]) {
      const read = await readBack({ exportId: name, teamId: 1, spans: [span], events: exports[name] });
      expect(read.get(span.start)?.records, name).to.equal(selected(name).length);
    }
  }

  it('Postgres: each run replaces only the events of its export; the read-back counts them only', async () => {
    const pg = await new TestPostgres().setup();
    try {
      const config = pg.config({ table_name: 'shared' });
      await exercise(
        () => new PostgresDestination(config),
        (request) => readBackPostgres(config, request),
        async () =>
          (await pg.admin.query<{ uuid: string }>(`SELECT uuid FROM "${pg.schema}"."shared" ORDER BY uuid`)).rows.map(
            (r) => r.uuid,
          ),
      );
    } finally {
      await pg.drop();
    }
  });

  it('Snowflake (test bed): the same', async () => {
    const server: SnowflakeServer = await startSnowflakeServer({ users: { loader: 'loader-password' } });
    const local = tmpDir();
    try {
      const config = snowflakeConfig(server, { table_name: 'shared' });
      await exercise(
        () => new SnowflakeDestination(config, { tmpDir: local }),
        (request) => readBackSnowflake(config, request),
        async () =>
          server
            .rows('ANALYTICS.PUBLIC.shared')
            .map((r) => String(r.uuid))
            .sort(),
      );
    } finally {
      await server.close();
      fs.rmSync(local, { recursive: true, force: true });
    }
  });
});

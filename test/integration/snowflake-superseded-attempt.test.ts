import { expect } from 'chai';
import fs from 'node:fs';
import { RetryableError } from '@bx/core';
import { SnowflakeDestination } from '@bx/destination-snowflake';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { MemoryRunState, runContext } from '../helpers/run-context';
import { snowflakeConfig, startSnowflakeServer, tmpDir, type SnowflakeServer } from '../helpers/snowflake';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const TABLE = 'ANALYTICS.PUBLIC.events';

/**
 * An attempt whose worker was frozen past its lock while a later attempt took the run over and
 * loaded the interval: when it wakes it must not commit over the later attempt's rows.
 */
describe('Snowflake destination: an attempt superseded by a later one', function () {
  this.timeout(30_000);
  let server: SnowflakeServer;
  const local = tmpDir();
  const events = Array.from({ length: 300 }, (_, i) =>
    makeEvent({ inserted_at: chTime(new Date(span.start + i * 11_000).toISOString()) }),
  );

  before(async () => {
    server = await startSnowflakeServer({ users: { loader: 'loader-password' } });
  });
  after(async () => {
    await server.close();
    fs.rmSync(local, { recursive: true, force: true });
  });

  it('does not commit once a later attempt has started: the later attempt’s rows stay', async () => {
    const latest = 3;
    const state = new MemoryRunState();
    const attempt = (n: number) => ({
      ...runContext(
        span,
        Object.assign(Object.create(state) as MemoryRunState, { isLatest: async () => latest === n }),
      ),
      attempt: n,
    });
    const sut = new SnowflakeDestination(snowflakeConfig(server), { tmpDir: local });
    expect((await sut.write(rowBatches(asRows(events), 100), attempt(3))).records).to.equal(events.length);
    // Attempt 2 read the interval before a late part of it arrived: fewer rows.
    const err = await sut.write(rowBatches(asRows(events.slice(0, 50)), 100), attempt(2)).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RetryableError);
    expect((err as RetryableError).code).to.equal('Superseded');
    expect(server.rows(TABLE)).to.have.length(events.length);
  });
  it('a taken-over attempt removes no staged file: the stage folder holds the later attempt’s files', async () => {
    const state = Object.assign(new MemoryRunState(), { isLatest: async () => false });
    const sut = new SnowflakeDestination(snowflakeConfig(server), { tmpDir: local });
    const before = server.queryLog.length;
    const err = await sut
      .write(rowBatches(asRows(events.slice(0, 10)), 100), { ...runContext(span, state), attempt: 2 })
      .catch((e: unknown) => e);
    expect((err as RetryableError).code).to.equal('Superseded');
    const sent = server.queryLog.slice(before).map((q) => q.sql.split(' ')[0]);
    expect(sent, 'statements the stale attempt sent').to.not.include('REMOVE');
    expect(sent).to.not.include('PUT');
  });
});

import { expect } from 'chai';
import { PermanentError, type BatchExportError, type EventRow } from '@bx/core';
import { SnowflakeDestination } from '@bx/destination-snowflake';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { runContext } from '../helpers/run-context';
import { snowflakeConfig, startSnowflakeServer, type SnowflakeServer } from '../helpers/snowflake';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const TABLE = 'ANALYTICS.PUBLIC.events';
const MiB = 1024 * 1024;
const at = (s: number) => chTime(new Date(span.start + s * 1000).toISOString());

/**
 * A value past what Snowflake stores in one VARIANT or VARCHAR (16 MB): COPY
 * refuses the statement (100082, as the test bed does now), and no retry can
 * change that. The run must fail for good, saying which column of which
 * event is too large, and leave the interval's earlier rows as they were.
 */
describe('Snowflake destination: a value larger than Snowflake stores (16 MB)', function () {
  this.timeout(120_000);
  let server: SnowflakeServer;
  const small = asRows([makeEvent({ inserted_at: at(1) }), makeEvent({ inserted_at: at(2) })]);

  before(async () => {
    server = await startSnowflakeServer({ account: 'testacct', users: { loader: 'loader-password' } });
  });
  after(() => server.close());

  const write = (rows: EventRow[]) =>
    new SnowflakeDestination(snowflakeConfig(server)).write(rowBatches(rows, 2), runContext(span));

  for (const column of ['properties', 'elements_chain'] as const) {
    it(`${column} of 17 MiB: the run fails permanently naming the event, the column and the limit`, async () => {
      await write(small);
      const value = column === 'properties' ? JSON.stringify({ big: 'x'.repeat(17 * MiB) }) : 'a'.repeat(17 * MiB);
      const huge = asRows([makeEvent({ inserted_at: at(3), [column]: value })]);
      const err = await write([...small, ...huge]).then(
        () => expect.fail('expected a failure'),
        (e: unknown) => e as BatchExportError,
      );
      expect(err).to.be.instanceOf(PermanentError).with.property('code', 'ValueTooLarge');
      expect(err.message)
        .to.contain('100082')
        .and.contain(`${column} of event ${huge[0]!.uuid}`)
        .and.contain(`${Buffer.byteLength(value)} bytes`)
        .and.contain('16 MB');
      expect(server.rows(TABLE).map((r) => r.uuid)).to.have.members(small.map((r) => r.uuid));
    });
  }

  it('values just under the limit load', async () => {
    const big = asRows([makeEvent({ inserted_at: at(4), properties: JSON.stringify({ v: 'y'.repeat(15 * MiB) }) })]);
    await write([...small, ...big]);
    expect(server.rows(TABLE)).to.have.length(3);
  });
});

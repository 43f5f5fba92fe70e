import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { ClickHouseSource } from '@bx/clickhouse';
import { isoSeconds, runIdFor } from '@bx/core';
import { writerFor } from '@bx/destinations';
import { personsModel } from '@bx/model-persons';
import { Scheduler } from '@bx/scheduler';
import { createRunProcessor } from '@bx/worker';
import { ApiHarness } from '../helpers/api-harness';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { byDistinctId, EXPECTED, I0, I1, I2, scenarioSource } from '../helpers/person-scenarios';
import { TestPersons } from '../helpers/persons';
import { jobContext, sourceConfig } from '../helpers/run-context';
import { createBucket, getObject, listKeys, readJsonLines, testS3Client } from '../helpers/s3';
import {
  connect,
  destroy,
  exec,
  snowflakeConfig,
  startSnowflakeServer,
  type SnowflakeServer,
} from '../helpers/snowflake';

/** A persons export through the API, the scheduler and the worker's processor, into S3. */
describe('a persons export, from the API to the worker', function () {
  this.timeout(60_000);
  let api: ApiHarness;
  let ch: TestPersons;
  let source: ClickHouseSource;
  let s3: S3Client;
  let bucket: string;

  const body = (overrides: Record<string, unknown> = {}) => ({
    name: 'persons',
    team_id: 1,
    interval: 'hour',
    model: 'persons',
    start_at: new Date(I0.start).toISOString(),
    end_at: new Date(I2.end).toISOString(),
    destination: {
      type: 'S3',
      config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix: '{table}', ...S3_CREDENTIALS },
    },
    ...overrides,
  });

  before(async () => {
    api = await new ApiHarness().start();
    ({ ch, source } = await scenarioSource());
    s3 = testS3Client();
    bucket = await createBucket(s3);
  });
  after(async () => {
    await api.close();
    await source.close();
    await ch.drop();
  });

  it('runs the persons model: each interval its records, under {table} = persons', async () => {
    const created = await api.call('POST', '/api/exports', { body: body() });
    expect(created.status).to.equal(201);
    expect(created.json.model).to.equal('persons');
    const id = created.json.id as string;
    await new Scheduler({ store: api.store, queue: api.queue, logger: api.logger, settleMs: 0 }).tick();
    const sut = createRunProcessor({
      store: api.store,
      source,
      destinationFor: (exp) => writerFor(exp.destination),
      config: sourceConfig(ch.database),
      logger: api.logger,
    });
    for (const span of [I0, I1, I2]) {
      const run = {
        run_id: runIdFor(id, span.start),
        export_id: id,
        data_interval_start: span.start,
        data_interval_end: span.end,
      };
      expect(await sut(run, jobContext())).to.include({ status: 'completed' });
    }
    const stem = (span: { start: number; end: number }) => `persons/${isoSeconds(span.start)}-${isoSeconds(span.end)}`;
    const key = (span: { start: number; end: number }) => `${stem(span)}.jsonl`;
    expect(await listKeys(s3, bucket)).to.deep.equal(
      [I0, I1, I2].flatMap((span) => [key(span), `${stem(span)}_receipt.json`]),
    );
    for (const [span, expected] of [
      [I0, EXPECTED.I0],
      [I1, EXPECTED.I1],
      [I2, EXPECTED.I2],
    ] as const) {
      expect((await readJsonLines(s3, bucket, key(span))).sort(byDistinctId)).to.deep.equal(expected);
      // The receipt: the records written, the checksum ClickHouse's own over the run's distinct_ids.
      const query = personsModel.query({ config: sourceConfig(ch.database), teamId: 1, ...span }).sql;
      const [own] = await (
        await ch.client.query({
          query: `SELECT count() AS n, toString(sum(sipHash64(distinct_id))) AS c FROM (${query})`,
          format: 'JSONEachRow',
          clickhouse_settings: { join_use_nulls: 0 },
        })
      ).json<{ n: string; c: string }>();
      const times = expected.map((r) => r._inserted_at as string).sort();
      const receipt = {
        records: expected.length,
        checksum: own!.c,
        min_inserted_at: times[0],
        max_inserted_at: times[times.length - 1],
        files: [key(span)],
        version: 1,
      };
      expect(Number(own!.n)).to.equal(expected.length);
      expect((await api.store.runs.get(runIdFor(id, span.start)))!.receipt).to.deep.equal(receipt);
      expect(JSON.parse((await getObject(s3, bucket, `${stem(span)}_receipt.json`)).toString())).to.deep.include(
        receipt,
      );
    }
  });

  it('refuses event filters on persons and an unknown model, naming the field', async () => {
    const fields = async (res: Promise<{ status: number; json: any }>) => {
      const { status, json } = await res;
      expect(status).to.equal(400);
      return (json.error.details as Array<{ field: string }>).map((d) => d.field);
    };
    expect(
      await fields(api.call('POST', '/api/exports', { body: body({ include_events: ['$pageview'] }) })),
    ).to.deep.equal(['include_events']);
    expect(await fields(api.call('POST', '/api/exports', { body: body({ model: 'sessions' }) }))).to.deep.equal([
      'model',
    ]);
    const created = await api.call('POST', '/api/exports', { body: body() });
    expect(
      await fields(api.call('PATCH', `/api/exports/${created.json.id}`, { body: { exclude_events: ['x'] } })),
    ).to.deep.equal(['exclude_events']);
    // Events keep their filters.
    const events = await api.call('POST', '/api/exports', {
      body: body({ model: 'events', include_events: ['$pageview'] }),
    });
    expect(events.status).to.equal(201);
    const defaulted = await api.call('POST', '/api/exports', { body: { ...body(), model: undefined } });
    expect(defaulted.json.model).to.equal('events');
  });

  describe('the destination test of a persons export', () => {
    let server: SnowflakeServer;
    before(async () => {
      server = await startSnowflakeServer({ users: { loader: 'loader-password', test: 'test' } });
      const conn = await connect(server);
      await exec(conn, 'CREATE DATABASE IF NOT EXISTS analytics');
      await exec(
        conn,
        'CREATE TABLE analytics.public."events" ("uuid" STRING, "event" STRING, "inserted_at" TIMESTAMP_NTZ)',
      );
      await destroy(conn);
    });
    after(() => server.close());

    it("checks an existing table against the persons record, not the events'", async () => {
      const snowflake = (table: string) => ({
        destination: { type: 'Snowflake', config: snowflakeConfig(server, { table_name: table }) },
      });
      const onEvents = await api.call('POST', '/api/exports', { body: body(snowflake('events')) });
      const failed = await api.call('POST', `/api/exports/${onEvents.json.id}/test`);
      expect(failed.json).to.include({ status: 'error', code: 'IncompatibleTable' });
      expect(failed.json.message).to.contain('cannot hold the persons').and.contain('"distinct_id" is missing');
      const fresh = await api.call('POST', '/api/exports', { body: body(snowflake('persons')) });
      expect((await api.call('POST', `/api/exports/${fresh.json.id}/test`)).json).to.include({ status: 'ok' });
    });
  });
});

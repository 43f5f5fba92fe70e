import { MAX_FILE_SIZE_MB, PART_SIZE } from '@bx/destination-s3';
import { expect } from 'chai';
import { ApiHarness, type HttpResult } from '../helpers/api-harness';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';

const s3Config = { bucket_name: 'input-forms', endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS };
const exportBody = (overrides: Record<string, unknown> = {}) => ({
  name: 'input forms',
  team_id: 7,
  interval: 'hour',
  paused: true,
  destination: { type: 'S3', config: s3Config },
  ...overrides,
});

/** A 400 `invalid_input` whose details and message name `field`. */
function expectRefused(res: HttpResult, field: string, what: string): void {
  expect(res.status, `${what}: ${res.text}`).to.equal(400);
  expect(res.json.error.code, what).to.equal('invalid_input');
  expect(
    res.json.error.details.map((d: { field: string }) => d.field),
    what,
  ).to.include(field);
  expect(res.json.error.message, what).to.contain(field);
}

/**
 * Numbers and instants written in forms the contract does not name: query
 * integers are plain decimal digits (Number() read `1e3` as 1000 and `0x10`
 * as 16), and an instant's UTC offset is a real one (`+24:00` was read as a
 * day earlier).
 */
describe('API inputs in forms the contract does not name', function () {
  this.timeout(30_000);
  let sut: ApiHarness;
  let exportId: string;

  before(async () => {
    sut = await new ApiHarness().start();
    const created = await sut.call('POST', '/api/exports', { body: exportBody() });
    expect(created.status, created.text).to.equal(201);
    exportId = created.json.id;
  });
  after(() => sut.close());

  describe('integer query parameters are plain decimal digits', () => {
    const lists = () => [
      ['GET /api/exports', '/api/exports?'],
      ['GET /api/exports/:id/runs', `/api/exports/${exportId}/runs?`],
    ];

    for (const limit of ['1e3', '0x10', '%205', '5%20', '5.0', '+5', '-0', '1_0', '', '0b1', 'Infinity']) {
      it(`limit=${limit} is a 400 naming limit`, async () => {
        for (const [what, path] of lists())
          expectRefused(await sut.call('GET', `${path}limit=${limit}`), 'limit', what!);
      });
    }

    it('limit=5 and limit=05 are read as 5', async () => {
      for (const [what, path] of lists()) {
        for (const limit of ['5', '05']) {
          const res = await sut.call('GET', `${path}limit=${limit}`);
          expect(res.status, `${what} limit=${limit}: ${res.text}`).to.equal(200);
        }
      }
    });

    it('team_id=1e3, team_id=+7 and one past 2^53 - 1 are 400 naming team_id', async () => {
      for (const team of ['1e3', '%2B7', '7.0', '0x7', '9007199254740993', '99999999999999999'])
        expectRefused(await sut.call('GET', `/api/exports?team_id=${team}`), 'team_id', team);
      const page = await sut.call('GET', '/api/exports?team_id=7');
      expect(page.json.results.map((e: { id: string }) => e.id)).to.include(exportId);
    });
  });

  describe('max_file_size_mb is bounded by what a file can be', () => {
    const field = 'destination.config.max_file_size_mb';
    const withSize = (size: unknown) =>
      exportBody({ destination: { type: 'S3', config: { ...s3Config, max_file_size_mb: size } } });

    it('the largest file S3 takes in 10,000 parts, even a quarter over its limit', () => {
      expect(MAX_FILE_SIZE_MB.max * 1.25 * 1024 * 1024).to.be.at.most(10_000 * PART_SIZE);
    });

    for (const size of [0, -1, 0.5, 0.000001, 64_001, 1_000_000, 1e300]) {
      it(`${size} is a 400 naming the field and its bounds`, async () => {
        const res = await sut.call('POST', '/api/exports', { body: withSize(size) });
        expectRefused(res, field, String(size));
        const detail = res.json.error.details.find((d: { field: string }) => d.field === field);
        expect(detail.message).to.contain('from 1 to 64000');
        const patched = await sut.call('PATCH', `/api/exports/${exportId}`, {
          body: { destination: { config: { max_file_size_mb: size } } },
        });
        expectRefused(patched, field, `PATCH ${size}`);
      });
    }

    it('a stored value an older version took (100,000) blocks no PATCH that leaves it alone', async () => {
      const created = await sut.call('POST', '/api/exports', { body: exportBody() });
      const id = created.json.id as string;
      await sut.store.exports.modify(id, (e) => ({
        ...e,
        destination: { ...e.destination, config: { ...e.destination.config, max_file_size_mb: 100_000 } },
      }));
      const patch = (config: Record<string, unknown>) =>
        sut.call('PATCH', `/api/exports/${id}`, { body: { destination: { config } } });
      const rotated = await patch({ aws_secret_access_key: 'rotated-secret-0123' });
      expect(rotated.status, rotated.text).to.equal(200);
      expect(rotated.json.destination.config.max_file_size_mb).to.equal(100_000);
      const prefixed = await patch({ prefix: 'p/{year}' });
      expect(prefixed.status, prefixed.text).to.equal(200);
      expect(prefixed.json.destination.config).to.include({ prefix: 'p/{year}', max_file_size_mb: 100_000 });
      // Sent again, it is checked; a value in bounds replaces it.
      expectRefused(await patch({ max_file_size_mb: 100_000 }), field, 'PATCH 100000 sent');
      const bounded = await patch({ max_file_size_mb: 500 });
      expect(bounded.status, bounded.text).to.equal(200);
      expect(bounded.json.destination.config.max_file_size_mb).to.equal(500);
      // A stored field made wrong by the request's change is still refused, named.
      await patch({ file_format: 'Parquet', compression: 'snappy' });
      expectRefused(await patch({ file_format: 'JSONLines' }), 'destination.config.compression', 'JSONLines + snappy');
    });

    it('a stored required field today refuses blocks no secret rotation; a new issue on a kept one is named', async () => {
      const config = { host: 'db.example.com', database: 'd', user: 'u', password: 'secret-0123', table_name: 't' };
      const created = await sut.call('POST', '/api/exports', {
        body: { name: 'pg', team_id: 1, interval: 'hour', paused: true, destination: { type: 'Postgres', config } },
      });
      expect(created.status, created.text).to.equal(201);
      const id = created.json.id as string;
      const store = (change: Record<string, unknown>) =>
        sut.store.exports.modify(id, (e) => ({
          ...e,
          destination: { ...e.destination, config: { ...e.destination.config, ...change } },
        }));
      const patch = (sent: Record<string, unknown>) =>
        sut.call('PATCH', `/api/exports/${id}`, { body: { destination: { config: sent } } });
      // Stored before the receipts table's name was refused (it was "received undefined" for table_name).
      await store({ table_name: 'batch_export_receipts' });
      const rotated = await patch({ password: 'rotated-0123' });
      expect(rotated.status, rotated.text).to.equal(200);
      expect(rotated.json.destination.config.table_name).to.equal('batch_export_receipts');
      await store({ table_name: 't', sslmode: 'require', ca_cert: 'not a certificate' });
      // The change adds an issue on the stored ca_cert (it needs TLS): the request's to answer for.
      expectRefused(
        await patch({ sslmode: 'disable', password: 'rotated-0123' }),
        'destination.config.ca_cert',
        'sslmode disable over a stored ca_cert',
      );
    });

    it('1, 2.5, 64000 and null are taken', async () => {
      for (const size of [1, 2.5, 64_000, null]) {
        const res = await sut.call('POST', '/api/exports', { body: withSize(size) });
        expect(res.status, `${size}: ${res.text}`).to.equal(201);
        expect(res.json.destination.config.max_file_size_mb).to.equal(size);
      }
    });
  });

  describe('an instant with a UTC offset past ±23:59 is refused, naming the field', () => {
    const bad = ['2024-01-02T00:00:00+24:00', '2024-01-02T00:00:00-24:00', '2024-01-02T00:00:00+99:99'];
    const odd = ['2024-01-02T00:00:00+00:60', '2024-01-02T00:00:00+2400', '2024-01-02T00:00+24'];

    it('start_at and end_at of a new export', async () => {
      for (const value of [...bad, ...odd]) {
        expectRefused(
          await sut.call('POST', '/api/exports', { body: exportBody({ start_at: value }) }),
          'start_at',
          value,
        );
        expectRefused(await sut.call('POST', '/api/exports', { body: exportBody({ end_at: value }) }), 'end_at', value);
      }
    });

    it('end_at of a PATCH', async () => {
      for (const value of bad)
        expectRefused(
          await sut.call('PATCH', `/api/exports/${exportId}`, { body: { end_at: value } }),
          'end_at',
          value,
        );
    });

    it('start_at and end_at of a backfill', async () => {
      const path = `/api/exports/${exportId}/backfills`;
      for (const value of bad) {
        const start = { start_at: value, end_at: '2024-01-03T00:00:00Z', dry_run: true };
        expectRefused(await sut.call('POST', path, { body: start }), 'start_at', value);
        const end = { start_at: '2024-01-01T00:00:00Z', end_at: value, dry_run: true };
        expectRefused(await sut.call('POST', path, { body: end }), 'end_at', value);
      }
    });

    it('the start, end and cursor filters of the runs list', async () => {
      for (const value of bad)
        for (const field of ['start', 'end', 'cursor'])
          expectRefused(
            await sut.call('GET', `/api/exports/${exportId}/runs?${field}=${encodeURIComponent(value)}`),
            field,
            `${field}=${value}`,
          );
    });

    it('real offsets still work, and mean the same instant everywhere', async () => {
      const created = await sut.call('POST', '/api/exports', {
        body: exportBody({ start_at: '2024-01-02T05:30:00+05:30', end_at: '2024-01-02T00:00:00-14:00' }),
      });
      expect(created.status, created.text).to.equal(201);
      expect(created.json.start_at).to.equal('2024-01-02T00:00:00.000Z');
      expect(created.json.end_at).to.equal('2024-01-02T14:00:00.000Z');
      const plan = await sut.call('POST', `/api/exports/${exportId}/backfills`, {
        body: { start_at: '2024-01-01T23:00:00-01:00', end_at: '2024-01-02T03:00:00+01:00', dry_run: true },
      });
      expect(plan.status, plan.text).to.equal(200);
      expect(plan.json.total_runs).to.equal(2);
      const runs = await sut.call(
        'GET',
        `/api/exports/${exportId}/runs?start=${encodeURIComponent('2024-01-01T23:00:00-01:00')}`,
      );
      expect(runs.status, runs.text).to.equal(200);
    });

    it('the runs filters take ISO 8601 only, as every other instant (Date.parse read "Jan 2 2024")', async () => {
      for (const value of ['Jan 2 2024', '2024/01/02', 'Tue, 02 Jan 2024 00:00:00 GMT'])
        expectRefused(
          await sut.call('GET', `/api/exports/${exportId}/runs?start=${encodeURIComponent(value)}`),
          'start',
          value,
        );
    });
  });
});

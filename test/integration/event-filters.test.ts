import { expect } from 'chai';
import { ApiHarness } from '../helpers/api-harness';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';

describe('include_events and exclude_events are bounded (100 names of at most 200 characters) and valid Unicode', () => {
  let sut: ApiHarness;
  before(async () => {
    sut = await new ApiHarness().start();
  });
  after(() => sut.close());

  const body = (filters: Record<string, unknown>) => ({
    body: {
      name: 'filters',
      team_id: 1,
      interval: 'hour',
      destination: {
        type: 'S3',
        config: { bucket_name: 'bx-filters', endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
      },
      ...filters,
    },
  });
  const names = (count: number, length = 10) => Array.from({ length: count }, (_, i) => `${i}`.padStart(length, 'e'));

  it('accepts 100 names of 200 characters', async () => {
    const res = await sut.call('POST', '/api/exports', body({ include_events: names(100, 200) }));
    expect(res.status, res.text).to.equal(201);
  });

  for (const field of ['include_events', 'exclude_events']) {
    it(`refuses 101 names, a name of 201 characters or a lone surrogate in ${field}, naming the field`, async () => {
      const many = await sut.call('POST', '/api/exports', body({ [field]: names(101) }));
      expect(many.status).to.equal(400);
      expect(many.json.error.details).to.deep.equal([{ field, message: 'at most 100 event names' }]);
      const long = await sut.call('POST', '/api/exports', body({ [field]: ['ok', 'x'.repeat(201)] }));
      expect(long.status).to.equal(400);
      expect(long.json.error.details).to.deep.equal([
        { field: `${field}.1`, message: 'an event name has at most 200 characters' },
      ]);
      // A lone surrogate reached ClickHouse as U+FFFD and matched the events named so; a valid pair is a name.
      const lone = await sut.call('POST', '/api/exports', body({ [field]: ['\ud800', 'a\udc00', '😀'] }));
      expect(lone.status).to.equal(400);
      expect(lone.json.error.details).to.deep.equal([
        { field: `${field}.0`, message: 'must be valid Unicode (a lone surrogate such as \\ud800 is not a character)' },
        { field: `${field}.1`, message: 'must be valid Unicode (a lone surrogate such as \\ud800 is not a character)' },
      ]);
      const created = await sut.call('POST', '/api/exports', body({}));
      const patched = await sut.call('PATCH', `/api/exports/${created.json.id}`, { body: { [field]: names(101) } });
      expect(patched.status).to.equal(400);
      expect(patched.json.error.details[0].field).to.equal(field);
    });
  }

  // Sent as UTF-8, a lone surrogate became U+FFFD: a filter of "\ud800" matched the events named U+FFFD.
  const lone = ['\ud800', 'a\udc00', 'x\ud83d'];

  for (const field of ['include_events', 'exclude_events']) {
    it(`refuses an event name with a lone surrogate in ${field}, naming the field, and keeps a valid pair`, async () => {
      const created = await sut.call('POST', '/api/exports', body({}));
      for (const name of lone) {
        const res = await sut.call('POST', '/api/exports', body({ [field]: ['ok', name] }));
        expect(res.status, JSON.stringify(name)).to.equal(400);
        expect(res.json.error.details[0].field).to.equal(`${field}.1`);
        expect(res.json.error.details[0].message).to.contain('lone surrogate');
        const patched = await sut.call('PATCH', `/api/exports/${created.json.id}`, { body: { [field]: [name] } });
        expect(patched.status, `PATCH ${JSON.stringify(name)}`).to.equal(400);
        expect(patched.json.error.details[0].field).to.equal(`${field}.0`);
      }
      const pair = await sut.call('POST', '/api/exports', body({ [field]: ['emoji \ud83d\ude00'] }));
      expect(pair.status, pair.text).to.equal(201);
      expect(pair.json[field]).to.deep.equal(['emoji \ud83d\ude00']);
    });
  }

  it('refuses an export name with a lone surrogate, naming the field', async () => {
    const created = await sut.call('POST', '/api/exports', body({}));
    for (const name of lone) {
      const res = await sut.call('POST', '/api/exports', body({ name }));
      expect(res.status, JSON.stringify(name)).to.equal(400);
      expect(res.json.error.details[0].field).to.equal('name');
      const patched = await sut.call('PATCH', `/api/exports/${created.json.id}`, { body: { name } });
      expect(patched.status, `PATCH ${JSON.stringify(name)}`).to.equal(400);
      expect(patched.json.error.details[0].field).to.equal('name');
    }
  });
});

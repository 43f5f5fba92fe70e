import { expect } from 'chai';
import { ApiHarness, TOKEN } from '../helpers/api-harness';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';

const destination = {
  type: 'S3',
  config: { bucket_name: 'body-types', endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
};

/**
 * A JSON body sent without `Content-Type: application/json` (curl -d sends
 * application/x-www-form-urlencoded) was not read at all: POST and PATCH
 * answered "body: expected object, received undefined", which names neither
 * the header nor the fix, and POST .../unpause with {"backfill": true}
 * unpaused without the backfill asked for, answering 200.
 */
describe('a request body that is not sent as JSON', function () {
  this.timeout(30_000);
  let sut: ApiHarness;

  before(async () => {
    sut = await new ApiHarness().start();
  });
  after(() => sut.close());

  /** A request with `body` as its raw text and exactly the Content-Type given (none when null). */
  async function send(method: string, path: string, body: string, contentType: string | null) {
    const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
    if (contentType !== null) headers['content-type'] = contentType;
    const res = await fetch(sut.base + path, { method, headers, body: Buffer.from(body) });
    const text = await res.text();
    return { status: res.status, text, json: text.startsWith('{') ? JSON.parse(text) : null };
  }

  /** A paused export of its own, by the API: its id. */
  async function newExport(): Promise<string> {
    const created = await sut.createExport(destination);
    expect(created.status, created.text).to.equal(201);
    return created.json.id as string;
  }

  const expectUnsupported = (res: { status: number; text: string; json: any }, got: string) => {
    expect(res.status, res.text).to.equal(415);
    expect(res.json.error.code).to.equal('unsupported_media_type');
    expect(res.json.error.message).to.contain('Content-Type: application/json');
    expect(res.json.error.message).to.contain(got);
    expect(res.json.error.details).to.deep.equal([{ field: 'Content-Type', message: res.json.error.message }]);
  };

  it('POST, PATCH and backfills with JSON sent as text/plain, a form or no type: read as JSON', async () => {
    const id = await newExport();
    for (const type of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', null]) {
      const created = await send(
        'POST',
        '/api/exports',
        JSON.stringify({ name: `as ${type}`, team_id: 1, interval: 'hour', destination, paused: true }),
        type,
      );
      expect(created.status, created.text).to.equal(201);
      expect(created.json.name).to.equal(`as ${type}`);
      const patched = await send('PATCH', `/api/exports/${id}`, JSON.stringify({ name: `renamed ${type}` }), type);
      expect(patched.status, patched.text).to.equal(200);
      expect(patched.json.name).to.equal(`renamed ${type}`);
      const dry = await send(
        'POST',
        `/api/exports/${id}/backfills`,
        JSON.stringify({ start_at: '2024-01-01', end_at: '2024-01-02', dry_run: true }),
        type,
      );
      expect(dry.status, dry.text).to.equal(200);
      expect(dry.json.total_runs).to.equal(24);
    }
  });

  it('a body of another type (multipart) is 415 naming Content-Type; text that is not JSON is 400 naming it', async () => {
    const id = await newExport();
    const type = 'multipart/form-data; boundary=x';
    expectUnsupported(await send('PATCH', `/api/exports/${id}`, '{"name":"x"}', type), type);
    const form = await send('PATCH', `/api/exports/${id}`, 'name=x', 'application/x-www-form-urlencoded');
    expect(form.status, form.text).to.equal(400);
    expect(form.json.error.code).to.equal('invalid_json');
    expect(form.json.error.message).to.contain('sent as application/x-www-form-urlencoded');
    const twice = await send('PATCH', `/api/exports/${id}`, '{"name":"a","name":"b"}', 'text/plain');
    expect(twice.status, twice.text).to.equal(400);
    expect(twice.json.error.details).to.deep.equal([{ field: 'name', message: 'given more than once' }]);
    expect((await sut.call('GET', `/api/exports/${id}`)).json.name, 'nothing changed').to.equal('victim');
  });

  it('unpause with a body sent as a form reads the body (it was ignored: unpaused without the backfill)', async () => {
    const id = await newExport();
    const form = 'application/x-www-form-urlencoded';
    const wrong = await send('POST', `/api/exports/${id}/unpause`, '{"backfill": "yes"}', form);
    expect(wrong.status, wrong.text).to.equal(400);
    expect(wrong.json.error.details[0].field).to.equal('backfill');
    expect((await sut.call('GET', `/api/exports/${id}`)).json.paused, 'still paused').to.equal(true);
    const res = await send('POST', `/api/exports/${id}/unpause`, '{"backfill": true}', form);
    expect(res.status, res.text).to.equal(200);
    expect(res.json.paused).to.equal(false);
  });

  it('routes without a body, and an empty body of any type, work as before', async () => {
    const id = await newExport();
    expect((await send('POST', `/api/exports/${id}/unpause`, '', 'text/plain')).status).to.equal(200);
    expect((await send('POST', `/api/exports/${id}/pause`, 'ignored', 'text/plain')).status).to.equal(200);
  });

  it('application/merge-patch+json and other +json types are read as JSON', async () => {
    const id = await newExport();
    const res = await send('PATCH', `/api/exports/${id}`, '{"name":"merged"}', 'application/merge-patch+json');
    expect(res.status, res.text).to.equal(200);
    expect(res.json.name).to.equal('merged');
  });

  it('a key given twice in one object is a 400 naming it (JSON.parse kept the last: a dry run became real)', async () => {
    const id = await newExport();
    const twice = await send(
      'POST',
      `/api/exports/${id}/backfills`,
      '{"start_at":"2024-01-01","end_at":"2024-01-02","dry_run":true,"dry_run":false}',
      'application/json',
    );
    expect(twice.status, twice.text).to.equal(400);
    expect(twice.json.error.code).to.equal('invalid_input');
    expect(twice.json.error.details).to.deep.equal([{ field: 'dry_run', message: 'given more than once' }]);
    expect((await sut.call('GET', `/api/exports/${id}/backfills`)).json.results, 'no backfill').to.deep.equal([]);
    // Nested, and spelt differently (\u0061 is a): the same key.
    const nested = await send(
      'PATCH',
      `/api/exports/${id}`,
      '{"name":"n","destination":{"config":{"prefix":"a","pref\\u0069x":"b"}},"paused":[{"x":1,"x":2}]}',
      'application/json',
    );
    expect(nested.status, nested.text).to.equal(400);
    expect(nested.json.error.details).to.deep.equal([
      { field: 'destination.config.prefix', message: 'given more than once' },
    ]);
    expect(nested.json.error.message).to.contain('destination.config.prefix');
    const inArray = await send(
      'PATCH',
      `/api/exports/${id}`,
      '{"include_events":[{"a":1},{"b":1,"b":2}]}',
      'application/json',
    );
    expect(inArray.json.error.details).to.deep.equal([
      { field: 'include_events.1.b', message: 'given more than once' },
    ]);
    expect((await sut.call('GET', `/api/exports/${id}`)).json.name, 'nothing changed').to.equal('victim');
  });

  it('application/json in another charset than UTF-8 is 415 (a key given twice got past the check in utf-7)', async () => {
    const id = await newExport();
    const body = '{"start_at":"2024-01-01","end_at":"2024-01-02","dry_run":true,"dry_run":false}';
    for (const charset of ['utf-7', 'utf-32', 'utf-16']) {
      const res = await send('POST', `/api/exports/${id}/backfills`, body, `application/json; charset=${charset}`);
      expect(res.status, `${charset}: ${res.text}`).to.equal(415);
      expect(res.json.error.code).to.equal('unsupported_media_type');
    }
    expect((await sut.call('GET', `/api/exports/${id}/backfills`)).json.results, 'no backfill').to.deep.equal([]);
    const utf8 = await send('PATCH', `/api/exports/${id}`, '{"name":"é"}', 'application/json; charset=UTF-8');
    expect(utf8.status, utf8.text).to.equal(200);
  });

  it('the same key in different objects, and in strings, is no duplicate', async () => {
    const id = await newExport();
    const res = await send(
      'PATCH',
      `/api/exports/${id}`,
      '{"name":"\\"name\\": \\"name\\"","destination":{"config":{"prefix":"name"}},"include_events":["name","name"]}',
      'application/json',
    );
    expect(res.status, res.text).to.equal(200);
    expect(res.json.name).to.equal('"name": "name"');
  });
});

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

  const expectUnsupported = (res: { status: number; text: string; json: any }, got: string) => {
    expect(res.status, res.text).to.equal(415);
    expect(res.json.error.code).to.equal('unsupported_media_type');
    expect(res.json.error.message).to.contain('Content-Type: application/json');
    expect(res.json.error.message).to.contain(got);
    expect(res.json.error.details).to.deep.equal([{ field: 'Content-Type', message: res.json.error.message }]);
  };

  it('POST, PATCH and backfills with text/plain, a form type or none: 415 naming Content-Type', async () => {
    const created = await sut.createExport(destination);
    expect(created.status, created.text).to.equal(201);
    const id = created.json.id as string;
    const cases: Array<[string, string, unknown]> = [
      ['POST', '/api/exports', { name: 'x', team_id: 1, interval: 'hour', destination }],
      ['PATCH', `/api/exports/${id}`, { name: 'renamed' }],
      ['POST', `/api/exports/${id}/backfills`, { start_at: '2024-01-01', end_at: '2024-01-02', dry_run: true }],
    ];
    for (const [method, path, body] of cases) {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
        expectUnsupported(await send(method, path, JSON.stringify(body), type), type);
      }
      expectUnsupported(await send(method, path, JSON.stringify(body), null), 'none');
    }
    const after = await sut.call('GET', `/api/exports/${id}`);
    expect(after.json.name, 'the PATCH changed nothing').to.equal('victim');
  });

  it('unpause with {"backfill": true} as a form is refused, not done without the backfill', async () => {
    const created = await sut.createExport(destination);
    const id = created.json.id as string;
    const res = await send(
      'POST',
      `/api/exports/${id}/unpause`,
      '{"backfill": true}',
      'application/x-www-form-urlencoded',
    );
    expectUnsupported(res, 'application/x-www-form-urlencoded');
    expect((await sut.call('GET', `/api/exports/${id}`)).json.paused, 'still paused').to.equal(true);
  });

  it('routes without a body, and an empty body of any type, work as before', async () => {
    const created = await sut.createExport(destination);
    const id = created.json.id as string;
    expect((await send('POST', `/api/exports/${id}/unpause`, '', 'text/plain')).status).to.equal(200);
    expect((await send('POST', `/api/exports/${id}/pause`, 'ignored', 'text/plain')).status).to.equal(200);
  });

  it('application/merge-patch+json and other +json types are read as JSON', async () => {
    const created = await sut.createExport(destination);
    const id = created.json.id as string;
    const res = await send('PATCH', `/api/exports/${id}`, '{"name":"merged"}', 'application/merge-patch+json');
    expect(res.status, res.text).to.equal(200);
    expect(res.json.name).to.equal('merged');
  });
});

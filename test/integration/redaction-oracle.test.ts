import { expect } from 'chai';
import { ApiHarness } from '../helpers/api-harness';
import { TestPostgres } from '../helpers/postgres';

describe('redaction tells nothing about a secret a token holder guesses at', function () {
  this.timeout(60_000);
  let sut: ApiHarness;
  let pg: TestPostgres;
  before(async () => {
    sut = await new ApiHarness().start();
    pg = await new TestPostgres().setup();
  });
  after(async () => {
    await pg.drop();
    await sut.close();
  });

  it('a schema named after the start of the stored password comes back in /test as any other name', async () => {
    const { user, password } = await pg.role();
    const created = await sut.createExport({ type: 'Postgres', config: pg.config({ user, password }) });
    expect(created.status, created.text).to.equal(201);
    const id = created.json.id as string;
    // The schema needs no password to change (it does not say where or as whom); each name
    // ends in a cut mark, after which the start of a secret was redacted: a yes or no per guess.
    const right = password.slice(0, 6);
    const wrong = `${password.slice(0, 5)}${password[5] === 'z' ? 'y' : 'z'}`;
    for (const guess of [right, wrong]) {
      const schema = `${guess}…`;
      const patched = await sut.call('PATCH', `/api/exports/${id}`, { body: { destination: { config: { schema } } } });
      expect(patched.status, patched.text).to.equal(200);
      const tested = await sut.call('POST', `/api/exports/${id}/test`);
      expect(tested.json.status).to.equal('error');
      expect(tested.json.code).to.equal('SchemaNotFound');
      expect(tested.json.message, guess === right ? 'the right guess' : 'a wrong guess').to.contain(`"${schema}"`);
      expect(tested.json.message).not.to.contain('[redacted]');
    }
  });

  it('a schema named after the whole stored password comes back in /test as any other name', async () => {
    const { user, password } = await pg.role();
    const created = await sut.createExport({ type: 'Postgres', config: pg.config({ user, password }) });
    expect(created.status, created.text).to.equal(201);
    const id = created.json.id as string;
    // A whole guess: `[redacted]` in "schema ... does not exist" said yes, the name as typed said no,
    // and the destination's login never saw the guesses.
    const wrong = `${password.slice(0, -1)}${password.endsWith('z') ? 'y' : 'z'}`;
    for (const schema of [password, wrong]) {
      const patched = await sut.call('PATCH', `/api/exports/${id}`, { body: { destination: { config: { schema } } } });
      expect(patched.status, patched.text).to.equal(200);
      const tested = await sut.call('POST', `/api/exports/${id}/test`);
      expect(tested.json.status).to.equal('error');
      expect(tested.json.code).to.equal('SchemaNotFound');
      expect(tested.json.message, schema === password ? 'the right guess' : 'a wrong guess').to.contain(`"${schema}"`);
      expect(tested.json.message).not.to.contain('[redacted]');
    }
  });
});

import { expect } from 'chai';
import { ExportSecrets, SecretBox } from '@bx/core';
import { secretFieldsOf } from '@bx/destinations';
import { randomBytes } from 'node:crypto';
import { ApiHarness } from '../helpers/api-harness';
import { CaptureServer } from '../helpers/capture-server';
import { snowflakeConfig, startSnowflakeServer, type SnowflakeServer } from '../helpers/snowflake';

const PASSWORD = `stored-password-${randomBytes(6).toString('hex')}`;

describe('a secret given in its stored, sealed form is refused (SECRETS_ENCRYPTION_KEYS)', function () {
  this.timeout(60_000);
  let sut: ApiHarness;
  let sf: SnowflakeServer;
  let listener: CaptureServer;
  before(async () => {
    const box = SecretBox.parse(randomBytes(32).toString('base64'));
    sut = await new ApiHarness({ secrets: new ExportSecrets(box, secretFieldsOf) }).start();
    sf = await startSnowflakeServer({ users: { loader: PASSWORD }, databases: { ANALYTICS: ['PUBLIC'] } });
    listener = await new CaptureServer().start();
  });
  after(async () => {
    await listener.stop();
    await sf.close();
    await sut.close();
  });

  it('a copy of Redis and the token do not move the stored password to a listener of their own', async () => {
    const created = await sut.createExport({
      type: 'Snowflake',
      config: { ...snowflakeConfig(sf), password: PASSWORD },
    });
    expect(created.status, created.text).to.equal(201);
    const id = created.json.id as string;
    expect((await sut.call('POST', `/api/exports/${id}/test`)).json.status).to.equal('ok');
    // What a backup of Redis holds: the password sealed, useless without the keys.
    const sealed = JSON.parse((await sut.store.redis.get(`${sut.prefix}:export:${id}`))!).destination.config
      .password as string;
    expect(sealed).to.match(/^bxenc:v1:/);

    // Given back as "the password again" with a new access_url, the store kept it sealed as it
    // was and the export opened it: /test sent the password to the listener in clear.
    const moved = await sut.call('PATCH', `/api/exports/${id}`, {
      body: { destination: { config: { access_url: listener.url, password: sealed } } },
    });
    expect(moved.status, moved.text).to.equal(400);
    expect(moved.json.error.details.map((d: { field: string }) => d.field)).to.deep.equal([
      'destination.config.password',
    ]);
    await sut.call('POST', `/api/exports/${id}/test`);
    expect(listener.seen).to.not.contain(PASSWORD);
    expect(listener.requests).to.deep.equal([]);

    // Nor in a new export (there it never opened: the seal is bound to its export).
    const copy = await sut.createExport(
      { type: 'Snowflake', config: { ...snowflakeConfig(sf), password: sealed } },
      'copy',
    );
    expect(copy.status, copy.text).to.equal(400);
    expect(copy.json.error.details[0].field).to.equal('destination.config.password');
  });
});

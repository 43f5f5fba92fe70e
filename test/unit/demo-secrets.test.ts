import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_KEY_FILE, demoSecretsKey } from '../../scripts/demo-secrets';

describe("the demo's secrets key", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bx-demo-key-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is kept beside the services, so a second demo opens the exports the first one stored', () => {
    const first = demoSecretsKey({}, dir);
    expect(Buffer.from(first, 'base64')).to.have.length(32);
    expect(demoSecretsKey({}, dir)).to.equal(first);
    expect(statSync(join(dir, DEMO_KEY_FILE)).mode & 0o777).to.equal(0o600);
  });

  it("is the user's SECRETS_ENCRYPTION_KEYS when set, and nothing is written", () => {
    const mine = 'LB94/xgk7rndq8+rWzqi2257bWPhvZIBq4Riv/hwA7c=';
    expect(demoSecretsKey({ SECRETS_ENCRYPTION_KEYS: mine }, dir)).to.equal(mine);
    expect(demoSecretsKey({}, dir)).not.to.equal(mine);
  });
});

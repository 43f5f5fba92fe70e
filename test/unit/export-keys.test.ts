import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { ExportSecrets, PermanentError, RetryableError, SecretBox, type BatchExport } from '@bx/core';
import { SECRET_KEY_ATTEMPTS, requireExportKeys } from '../../services/worker/src/export-keys';

const key = () => randomBytes(32).toString('base64');

/**
 * A worker without the key that sealed an export's secret: another worker may
 * have it (mid-rotation), so the first attempts are retryable; past them no
 * retry can help (no worker has the key, or the value is damaged) and the run
 * fails for good rather than retrying for days without an alert.
 */
describe('requireExportKeys: a secret this worker cannot open', () => {
  const fields = () => ['password'];
  const sealedBy = new ExportSecrets(SecretBox.parse(key()), fields);
  const exp = sealedBy.seal({
    id: 'e1',
    destination: { type: 'Postgres', config: { password: 'pw-0123456789' } },
  } as unknown as BatchExport);
  const worker = new ExportSecrets(SecretBox.parse(key()), fields);

  it(`is retryable for attempts 1 to ${SECRET_KEY_ATTEMPTS - 1}, naming the variable`, () => {
    for (let attempt = 1; attempt < SECRET_KEY_ATTEMPTS; attempt++) {
      expect(() => requireExportKeys(worker, exp, attempt))
        .to.throw(RetryableError, 'SECRETS_ENCRYPTION_KEYS')
        .with.property('code', 'SecretUnreadable');
    }
  });

  it(`fails for good from attempt ${SECRET_KEY_ATTEMPTS}, without promising a retry`, () => {
    for (const attempt of [SECRET_KEY_ATTEMPTS, SECRET_KEY_ATTEMPTS + 10]) {
      let thrown: unknown;
      try {
        requireExportKeys(worker, exp, attempt);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).to.be.instanceOf(PermanentError).with.property('code', 'SecretUnreadable');
      expect((thrown as Error).message)
        .to.contain('SECRETS_ENCRYPTION_KEYS')
        .and.not.contain('retried');
    }
  });

  it('a worker with the key opens it: nothing thrown', () => {
    expect(() => requireExportKeys(sealedBy, sealedBy.open(exp), 1)).to.not.throw();
  });
});

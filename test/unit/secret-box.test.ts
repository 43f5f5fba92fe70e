import { expect } from 'chai';
import { PermanentError, SecretBox } from '@bx/core';
import { randomBytes } from 'node:crypto';

const key = () => randomBytes(32).toString('base64');

describe('SecretBox (SECRETS_ENCRYPTION_KEYS)', () => {
  const first = key();
  const second = key();
  const sut = SecretBox.parse(`${first},${second}`);

  it('seals with AES-256-GCM and opens again; two seals of one value differ', () => {
    const a = sut.seal('s3cr3t-value', 'export:1:password');
    const b = sut.seal('s3cr3t-value', 'export:1:password');
    expect(SecretBox.isSealed(a)).to.equal(true);
    expect(a).to.not.contain('s3cr3t').and.to.not.equal(b);
    expect(sut.open(a, 'export:1:password')).to.equal('s3cr3t-value');
    expect(sut.open(sut.seal('', 'c'), 'c')).to.equal('');
  });

  it('seals with the first key and opens with any (rotation)', () => {
    const old = SecretBox.parse(second);
    const sealedByOld = old.seal('v', 'c');
    expect(SecretBox.keyIdOf(sealedByOld)).to.equal(old.sealingKeyId);
    expect(sut.open(sealedByOld, 'c')).to.equal('v');
    expect(SecretBox.keyIdOf(sut.seal('v', 'c')))
      .to.equal(sut.sealingKeyId)
      .and.to.not.equal(old.sealingKeyId);
    expect(() => SecretBox.parse(key()).open(sealedByOld, 'c')).to.throw(
      PermanentError,
      /none of SECRETS_ENCRYPTION_KEYS/,
    );
  });

  it('does not open a value moved to another export or field, nor a tampered one', () => {
    const sealed = sut.seal('v', 'export:1:password');
    expect(() => sut.open(sealed, 'export:2:password')).to.throw(PermanentError);
    const flipped = sealed.slice(0, -2) + (sealed.endsWith('AA') ? 'BB' : 'AA');
    expect(() => sut.open(flipped, 'export:1:password')).to.throw(PermanentError);
  });

  it('refuses keys that are not 32 bytes of base64', () => {
    for (const bad of ['', 'short', randomBytes(16).toString('base64'), `${first},nope`, 'not base64 at all!!']) {
      expect(() => SecretBox.parse(bad), bad).to.throw();
    }
    expect(SecretBox.parse(randomBytes(32).toString('base64url')).sealingKeyId).to.match(/^[0-9a-f]{16}$/);
  });
});

import { expect } from 'chai';
import { AdminSessions, SESSION_TTL_SECONDS } from '@bx/api';

describe('admin session cookie', () => {
  const token = 'a-long-enough-admin-token-123';
  let now = Date.parse('2024-01-01T00:00:00Z');
  const sut = new AdminSessions(token, () => now);

  it('is valid until it expires, and only for the token that issued it', () => {
    const value = sut.issue();
    expect(value).to.not.contain(token);
    expect(sut.verify(value)).to.equal(true);
    expect(new AdminSessions('another-admin-token-4567890', () => now).verify(value)).to.equal(false);
    now += SESSION_TTL_SECONDS * 1000 - 1;
    expect(sut.verify(value)).to.equal(true);
    now += 1;
    expect(sut.verify(value)).to.equal(false);
  });

  it('rejects malformed values', () => {
    for (const value of [undefined, '', 'x', `${now}.abc`, `1.${'g'.repeat(64)}`]) {
      expect(sut.verify(value), String(value)).to.equal(false);
    }
  });
});

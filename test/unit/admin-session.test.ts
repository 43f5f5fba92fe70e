import { expect } from 'chai';
import { AdminSessions, AuthFailureLimiter, SESSION_TTL_SECONDS, type SessionStore } from '@bx/api';
import type { AdminSessionRecord } from '@bx/store';

/** The store as a Map; Redis's own expiry is left to the integration tests. */
function memoryStore(): SessionStore & { size: number } {
  const map = new Map<string, AdminSessionRecord>();
  return {
    get size() {
      return map.size;
    },
    create: async (id, record) => void map.set(id, record),
    get: async (id) => map.get(id) ?? null,
    delete: async (id) => void map.delete(id),
  };
}

describe('admin sessions', () => {
  const token = 'a-long-enough-admin-token-123';
  let now = Date.parse('2024-01-01T00:00:00Z');
  const store = memoryStore();
  const sut = new AdminSessions(token, store, new AuthFailureLimiter(), () => now);

  it('is valid until it expires, and only for the token that opened it', async () => {
    const value = await sut.issue();
    expect(value).to.not.contain(token);
    expect(await sut.verify(value)).to.not.equal(null);
    const other = new AdminSessions('another-admin-token-4567890', store, new AuthFailureLimiter(), () => now);
    expect(await other.verify(value)).to.equal(null);
    now += SESSION_TTL_SECONDS * 1000 - 1;
    expect(await sut.verify(value)).to.not.equal(null);
    now += 1;
    expect(await sut.verify(value)).to.equal(null);
  });

  it('ends on revoke', async () => {
    const value = await sut.issue();
    await sut.revoke(value);
    expect(await sut.verify(value)).to.equal(null);
  });

  it('rejects malformed values without a look-up', async () => {
    for (const value of [undefined, '', 'x', `${now}.abc`, 'A'.repeat(42), 'A'.repeat(44), `${'A'.repeat(42)}=`]) {
      expect(await sut.verify(value), String(value)).to.equal(null);
    }
  });
});

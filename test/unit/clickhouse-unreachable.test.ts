import { expect } from 'chai';
import { clickHouseAddress, clickHouseUnreachable } from '@bx/clickhouse/ping';

describe('clickHouseUnreachable', () => {
  it('names CLICKHOUSE_URL and host:port, never the credentials in the URL', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:8443'), { code: 'ECONNREFUSED' });
    const sut = clickHouseUnreachable('https://admin:s3cret@10.0.0.5:8443/?database=x', refused);
    expect(sut?.message).to.equal(
      'ClickHouse is not reachable at 10.0.0.5:8443 (CLICKHOUSE_URL): connect ECONNREFUSED 10.0.0.5:8443',
    );
    expect(sut?.message).not.to.contain('s3cret');
  });

  it('leaves errors of a server that answered alone (a bad query is not "unreachable")', () => {
    expect(clickHouseUnreachable('http://h:8123', new Error('Code: 62. Syntax error'))).to.equal(undefined);
  });

  it('says which port a URL without one means', () => {
    expect(clickHouseAddress('https://ch.example')).to.equal('ch.example:443');
  });
});

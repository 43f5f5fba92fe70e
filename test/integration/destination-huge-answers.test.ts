import { expect } from 'chai';
import { S3_CREDENTIALS } from '../helpers/env';
import { FloodingEndpoint } from '../helpers/flooding-endpoint';
import { InProcessSystem } from '../helpers/in-process';

const S3_ERROR_HEAD = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>';

describe('destination endpoints that answer without end', function () {
  this.timeout(120_000);
  let sys: InProcessSystem;
  let endpoint: FloodingEndpoint;

  beforeEach(async () => {
    sys = await new InProcessSystem('default').start();
  });
  afterEach(async () => {
    await endpoint.stop();
    await sys.stop();
  });

  /** POST /test of an export to `endpoint`, flooding with `status` and `head` first. */
  const testOf = async (status: number, head: string, destination: (url: string) => object) => {
    endpoint = await new FloodingEndpoint(status, head).start();
    const created = await sys.call('POST', '/api/exports', {
      name: 'flooding',
      team_id: 1,
      interval: 'hour',
      paused: true,
      destination: destination(`http://127.0.0.1:${endpoint.port}`),
    });
    expect(created.status, JSON.stringify(created.json)).to.equal(201);
    return sys.call('POST', `/api/exports/${created.json.id}/test`);
  };
  const s3 = (url: string) => ({
    type: 'S3',
    config: { bucket_name: 'flood-bucket', endpoint_url: url, ...S3_CREDENTIALS },
  });

  // A 200 MB error answer took the API process past its heap (4.7 GB): it died.
  it('S3: POST /test stops reading a huge error answer and says so briefly', async () => {
    const sut = await testOf(403, S3_ERROR_HEAD, s3);
    expect(sut.status).to.equal(200);
    expect(sut.json).to.include({ status: 'error' });
    expect(sut.json.message.length, 'message length').to.be.below(4096);
    expect(endpoint.sent, 'bytes the endpoint sent').to.be.below(16 * 1024 * 1024);
  });

  it('S3: POST /test stops reading a huge answer to a write that succeeded', async () => {
    const sut = await testOf(200, S3_ERROR_HEAD, s3);
    expect(sut.json).to.include({ status: 'error' });
    expect(sut.json.message).to.contain('more than');
    expect(endpoint.sent, 'bytes the endpoint sent').to.be.below(16 * 1024 * 1024);
  });

  // The SDK read a 200 MB login answer whole (RSS 567 MB), and went on after /test gave up.
  it('Snowflake: POST /test stops reading a huge login answer and says so', async () => {
    const sut = await testOf(200, '{"success": true, "data": {"token": "', (url) => ({
      type: 'Snowflake',
      config: {
        account: 'flood',
        user: 'u',
        password: 'p',
        database: 'd',
        schema: 's',
        warehouse: 'w',
        table_name: 't',
        access_url: url,
      },
    }));
    expect(sut.json).to.include({ status: 'error' });
    expect(sut.json.message).to.contain('exceeded');
    expect(endpoint.sent, 'bytes the endpoint sent').to.be.below(32 * 1024 * 1024);
  });
});

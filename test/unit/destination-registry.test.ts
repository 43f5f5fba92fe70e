import { expect } from 'chai';
import { ValidationError, parseInput } from '@bx/core';
import {
  DESTINATION_PLUGINS,
  DESTINATION_SECRET_FIELDS,
  DESTINATION_TYPES,
  checkDestination,
  connectionFields,
  destinationEndpoints,
  destinationSchema,
  withoutSecrets,
  writerFor,
} from '@bx/destinations';

const s3 = { bucket_name: 'my-bucket', aws_access_key_id: 'AK', aws_secret_access_key: 'SECRET' };
const snowflake = {
  account: 'acme',
  user: 'loader',
  password: 'PW',
  database: 'db',
  schema: 'public',
  warehouse: 'wh',
  table_name: 'events',
};
const postgres = {
  host: 'db.example.com',
  database: 'analytics',
  user: 'loader',
  password: 'PW',
  table_name: 'events',
};

describe('destination registry', () => {
  it('lists each plug-in once, and builds the destination union from their schemas', () => {
    expect(DESTINATION_TYPES).to.deep.equal(['S3', 'Snowflake', 'Postgres']);
    expect(new Set(DESTINATION_PLUGINS.map((p) => p.type)).size).to.equal(DESTINATION_PLUGINS.length);
    const sut = parseInput(destinationSchema, { type: 'S3', config: s3 });
    expect(sut.config).to.include({ region: 'us-east-1', file_format: 'JSONLines', prefix: '' });
    expect(parseInput(destinationSchema, { type: 'Snowflake', config: snowflake }).config).to.include(snowflake);
    expect(parseInput(destinationSchema, { type: 'Postgres', config: postgres }).config).to.include({
      ...postgres,
      port: 5432,
      schema: 'public',
      sslmode: 'verify-full',
    });
    expect(() => parseInput(destinationSchema, { type: 'S3', config: snowflake })).to.throw(ValidationError);
    expect(() => parseInput(destinationSchema, { type: 'FTP', config: {} })).to.throw(ValidationError);
  });

  it('refuses a user name or password inside endpoint_url and access_url, naming the field', () => {
    const cases = [
      { type: 'S3', config: { ...s3, endpoint_url: 'https://key:secret@minio.example.com' }, field: 'endpoint_url' },
      { type: 'S3', config: { ...s3, endpoint_url: 'http://key@minio.example.com:9000' }, field: 'endpoint_url' },
      { type: 'Snowflake', config: { ...snowflake, access_url: 'https://u:p@acme.example.com' }, field: 'access_url' },
    ];
    for (const { type, config, field } of cases) {
      let sut: unknown;
      try {
        parseInput(destinationSchema, { type, config });
      } catch (err) {
        sut = err;
      }
      expect(sut, `${type} ${field}`).to.be.instanceOf(ValidationError);
      expect(JSON.stringify((sut as ValidationError).details))
        .to.include(field)
        .and.to.include('user name or password');
    }
    const plain = parseInput(destinationSchema, {
      type: 'S3',
      config: { ...s3, endpoint_url: 'https://minio.example.com:9000' },
    });
    expect(plain.config).to.include({ endpoint_url: 'https://minio.example.com:9000' });
  });

  it('knows every secret field, and removes a destination own ones for responses', () => {
    expect(DESTINATION_SECRET_FIELDS).to.have.members([
      'aws_secret_access_key',
      'password',
      'private_key',
      'private_key_passphrase',
    ]);
    expect(withoutSecrets({ type: 'S3', config: s3 }).config).to.deep.equal({
      bucket_name: 'my-bucket',
      aws_access_key_id: 'AK',
    });
    expect(
      withoutSecrets({ type: 'Snowflake', config: { ...snowflake, private_key: 'PEM' } }).config,
    ).to.not.have.any.keys('password', 'private_key');
    expect(withoutSecrets({ type: 'Postgres', config: postgres }).config).to.not.have.any.keys('password');
    // A type no plug-in knows loses every known secret field.
    expect(withoutSecrets({ type: 'Gone', config: { password: 'x', host: 'h' } }).config).to.deep.equal({ host: 'h' });
  });

  it('names the connection fields and the endpoints of a config', () => {
    expect(connectionFields('S3')).to.have.members(['endpoint_url', 'bucket_name', 'region']);
    expect(connectionFields('Snowflake')).to.have.members(['access_url', 'account', 'user']);
    expect(connectionFields('Postgres')).to.have.members(['host', 'port', 'database', 'user', 'sslmode', 'ca_cert']);
    const pg = parseInput(destinationSchema, { type: 'Postgres', config: { ...postgres, port: 6432 } });
    expect(destinationEndpoints(pg)).to.deep.equal([{ host: 'db.example.com', port: 6432 }]);
    const config = parseInput(destinationSchema, { type: 'S3', config: { ...s3, region: 'eu-west-1' } });
    expect(destinationEndpoints(config)).to.deep.equal([
      { url: 'https://my-bucket.s3.eu-west-1.amazonaws.com/', host: 'my-bucket.s3.eu-west-1.amazonaws.com', port: 443 },
    ]);
    const custom = { type: 'S3', config: { ...config.config, endpoint_url: 'http://[::1]:4568' } };
    expect(destinationEndpoints(custom)[0]).to.include({ host: '::1', port: 4568 });
    const sf = { type: 'Snowflake', config: { ...snowflake, access_url: 'http://127.0.0.1:9999' } };
    expect(destinationEndpoints(sf)).to.deep.equal([{ url: 'http://127.0.0.1:9999/', host: '127.0.0.1', port: 9999 }]);
  });

  it('answers a type it does not know with a permanent error', async () => {
    const unknown = { type: 'FTP', config: {} };
    for (const attempt of [checkDestination(unknown), writerFor(unknown)]) {
      const err = await attempt.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.include({ code: 'UnsupportedDestination', retryable: false });
    }
  });
});

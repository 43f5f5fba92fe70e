import { expect } from 'chai';
import { ValidationError, parseInput } from '@bx/core';
import { withoutSecrets } from '@bx/destinations';
import { createExportSchema } from '@bx/operations';
import { prefixTemplateErrors, renderPrefix } from '@bx/destination-s3';
import { objectKey, manifestKey } from '@bx/destination-s3';

const s3 = { bucket_name: 'my-bucket', aws_access_key_id: 'AK', aws_secret_access_key: 'SECRET' };
const body = (overrides: Record<string, unknown> = {}) => ({
  name: 'e',
  team_id: 1,
  interval: 'hour',
  destination: { type: 'S3', config: s3 },
  ...overrides,
});
const fieldsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ValidationError);
    return (err as ValidationError).details.map((d) => d.field);
  }
  throw new Error('expected a ValidationError');
};

describe('export input validation', () => {
  it('accepts a minimal export and fills defaults', () => {
    const sut = parseInput(createExportSchema, body());
    expect(sut.timezone).to.equal('UTC');
    expect(sut.destination.config).to.include({ file_format: 'JSONLines', compression: null, prefix: '' });
  });

  it('names each bad field', () => {
    expect(fieldsOf(() => parseInput(createExportSchema, body({ interval: 'monthly' })))).to.deep.equal(['interval']);
    expect(fieldsOf(() => parseInput(createExportSchema, body({ timezone: 'Mars/Olympus' })))).to.deep.equal([
      'timezone',
    ]);
    expect(fieldsOf(() => parseInput(createExportSchema, body({ team_id: '1' })))).to.deep.equal(['team_id']);
    expect(fieldsOf(() => parseInput(createExportSchema, body({ colour: 'red' })))).to.deep.equal(['colour']);
    expect(fieldsOf(() => parseInput(createExportSchema, body({ start_at: 'yesterday' })))).to.deep.equal(['start_at']);
    expect(
      fieldsOf(() =>
        parseInput(createExportSchema, body({ start_at: '2024-01-02T00:00:00Z', end_at: '2024-01-01T00:00:00Z' })),
      ),
    ).to.deep.equal(['end_at']);
    expect(
      fieldsOf(() =>
        parseInput(createExportSchema, body({ destination: { type: 'S3', config: { ...s3, compression: 'snappy' } } })),
      ),
    ).to.deep.equal(['destination.config.compression']);
    expect(
      fieldsOf(() =>
        parseInput(createExportSchema, body({ destination: { type: 'S3', config: { ...s3, prefix: '{yaer}/x' } } })),
      ),
    ).to.deep.equal(['destination.config.prefix']);
    expect(
      fieldsOf(() => parseInput(createExportSchema, body({ destination: { type: 'FTP', config: {} } }))),
    ).to.deep.equal(['destination.type']);
    expect(fieldsOf(() => parseInput(createExportSchema, null))).to.deep.equal(['body']);
  });

  it('accepts Parquet codecs only with Parquet', () => {
    expect(() =>
      parseInput(
        createExportSchema,
        body({ destination: { type: 'S3', config: { ...s3, file_format: 'Parquet', compression: 'snappy' } } }),
      ),
    ).to.not.throw();
  });

  it('removes secrets for responses', () => {
    const sut = withoutSecrets({
      type: 'S3',
      config: parseInput(createExportSchema, body()).destination.config,
    } as never);
    expect(JSON.stringify(sut)).to.not.contain('SECRET');
    expect(sut.config).to.include({ aws_access_key_id: 'AK' });
  });
});

describe('S3 keys and prefix templates', () => {
  const span = { start: Date.parse('2024-03-01T05:00:00Z'), end: Date.parse('2024-03-01T06:00:00Z') };

  it('renders every variable zero-padded from data_interval_end', () => {
    expect(
      prefixTemplateErrors(
        '{year}/{month}/{day}/{hour}:{minute}:{second}/{table}/{data_interval_start}_{data_interval_end}',
      ),
    ).to.deep.equal([]);
    expect(renderPrefix('{year}/{month}/{day}/{hour}{minute}{second}/{table}', span, 'events')).to.equal(
      '2024/03/01/060000/events',
    );
    expect(renderPrefix('{data_interval_start}', span, 'events')).to.equal('2024-03-01T05:00:00+00:00');
  });

  it('rejects unknown variables and stray braces', () => {
    expect(prefixTemplateErrors('{bucket}')).to.have.length(1);
    expect(prefixTemplateErrors('a{b')).to.have.length(1);
  });

  it('builds the contract keys', () => {
    const config = { prefix: 'exports/{year}/', file_format: 'JSONLines' as const, compression: 'gzip' as const };
    expect(objectKey(config, span)).to.equal(
      'exports/2024/2024-03-01T05:00:00+00:00-2024-03-01T06:00:00+00:00.jsonl.gz',
    );
    expect(objectKey({ ...config, prefix: '' }, span, 2)).to.equal(
      '2024-03-01T05:00:00+00:00-2024-03-01T06:00:00+00:00-2.jsonl.gz',
    );
    expect(objectKey({ ...config, compression: null }, span)).to.match(/\.jsonl$/);
    expect(objectKey({ ...config, compression: 'zstd' }, span)).to.match(/\.jsonl\.zst$/);
    expect(objectKey({ ...config, compression: 'brotli' }, span)).to.match(/\.jsonl\.br$/);
    expect(objectKey({ ...config, file_format: 'Parquet', compression: 'zstd' }, span)).to.match(/\.parquet$/);
    expect(manifestKey(config, span)).to.equal(
      'exports/2024/2024-03-01T05:00:00+00:00-2024-03-01T06:00:00+00:00_manifest.json',
    );
  });
});

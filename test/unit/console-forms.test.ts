import { expect } from 'chai';
import { destinationFields, destinationTypes } from '../../services/api/src/console/destination-fields';
import { createBody, patchBody } from '../../services/api/src/console/form-body';
import { placeErrors } from '../../services/api/src/console/form-controls';
import { html, trusted } from '../../services/api/src/console/html';
import { exportFixture } from '../helpers/export-fixture';

describe('console html template', () => {
  it('escapes every value, in text and attributes, but not nested templates', () => {
    const name = `"><script>alert('x')</script>&`;
    const sut = html`<a title="${name}">${name}</a>${html`<b>${1}</b>`}${[html`<i>a</i>`, '<u>']}${null}${false}`;
    expect(sut.text).to.equal(
      '<a title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">' +
        '&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</a><b>1</b><i>a</i>&lt;u&gt;',
    );
    expect(html`${trusted('<path d="M0 0"/>')}`.text).to.equal('<path d="M0 0"/>');
  });
});

describe('console export forms', () => {
  const s3 = destinationFields('S3');

  it('reads the destination types and fields from the schema the API validates with', () => {
    expect(destinationTypes()).to.include.members(['S3', 'Snowflake']);
    const byKey = Object.fromEntries(s3.map((f) => [f.key, f]));
    expect(byKey.bucket_name).to.include({ kind: 'text', required: true, secret: false });
    expect(byKey.aws_secret_access_key).to.include({ kind: 'password', secret: true });
    expect(byKey.file_format).to.deep.include({ kind: 'select', options: ['JSONLines', 'Parquet'] });
    expect(byKey.max_file_size_mb).to.include({ kind: 'number', nullable: true });
    expect(byKey.region).to.include({ required: false, default: 'us-east-1' });
  });

  it('turns a create form into the API body: numbers, lists, defaults left out', () => {
    const sut = createBody(
      {
        name: 'n',
        team_id: '12',
        interval: 'hour',
        timezone: '',
        include_events: '$pageview\n\n signup ',
        'destination.config.bucket_name': 'bucket-one',
        'destination.config.region': '',
        'destination.config.max_file_size_mb': '2.5',
        'destination.config.compression': '',
        'destination.config.aws_secret_access_key': 's',
      },
      'S3',
      s3,
    );
    expect(sut).to.deep.equal({
      name: 'n',
      team_id: 12,
      interval: 'hour',
      include_events: ['$pageview', 'signup'],
      exclude_events: [],
      paused: false,
      destination: {
        type: 'S3',
        config: { bucket_name: 'bucket-one', max_file_size_mb: 2.5, aws_secret_access_key: 's' },
      },
    });
    // Not a number: passed on as typed, so the API names the field.
    expect((createBody({ team_id: 'seven' }, 'S3', s3) as { team_id: unknown }).team_id).to.equal('seven');
  });

  it('keeps event names whole: a comma or spaces in a name survive an edit of something else', () => {
    const names = ['Signed up, trial', ' padded ', '$pageview'];
    const current = exportFixture('e1', Date.UTC(2024, 0, 1), { include_events: names, exclude_events: ['a,b'] });
    // The textareas as the edit form shows them, sent back by a browser (CRLF line ends).
    const form = {
      name: 'renamed',
      interval: current.interval,
      timezone: current.timezone,
      include_events: names.join('\r\n'),
      exclude_events: 'a,b',
      end_at: '',
    };
    expect(patchBody(form, current, destinationFields(current.destination.type))).to.deep.equal({ name: 'renamed' });
    // A changed list: one name per line, as the form's hint says; a comma is part of a name.
    expect(
      patchBody({ ...form, include_events: 'Signed up, trial\r\nsignup ' }, current, []).include_events,
    ).to.deep.equal(['Signed up, trial', 'signup']);
    expect(createBody({ exclude_events: 'a, b\nc' }, 'S3', s3).exclude_events).to.deep.equal(['a, b', 'c']);
  });

  it('patches only what changed, keeps a secret left empty, and clears an emptied optional field', () => {
    const current = exportFixture('e1', Date.UTC(2024, 0, 1), {
      destination: {
        type: 'S3',
        config: {
          bucket_name: 'bucket',
          region: 'us-east-1',
          prefix: 'p/',
          endpoint_url: 'http://s3.local',
          aws_access_key_id: 'a',
          aws_secret_access_key: 'b',
          file_format: 'JSONLines',
          compression: null,
        },
      },
    });
    const unchanged = {
      name: current.name,
      interval: current.interval,
      timezone: current.timezone,
      include_events: '',
      exclude_events: '',
      end_at: '',
      'destination.config.bucket_name': 'bucket',
      'destination.config.region': 'us-east-1',
      'destination.config.prefix': 'p/',
      'destination.config.endpoint_url': 'http://s3.local',
      'destination.config.aws_access_key_id': 'a',
      'destination.config.aws_secret_access_key': '',
      'destination.config.file_format': 'JSONLines',
      'destination.config.compression': '',
      'destination.config.max_file_size_mb': '',
      'destination.config.encryption': '',
      'destination.config.kms_key_id': '',
    };
    expect(patchBody(unchanged, current, s3)).to.deep.equal({});
    expect(
      patchBody(
        {
          ...unchanged,
          name: 'renamed',
          'destination.config.endpoint_url': '',
          'destination.config.compression': 'gzip',
        },
        current,
        s3,
      ),
    ).to.deep.equal({ name: 'renamed', destination: { config: { endpoint_url: null, compression: 'gzip' } } });
    expect(patchBody({ ...unchanged, 'destination.config.aws_secret_access_key': 'new' }, current, s3)).to.deep.equal({
      destination: { config: { aws_secret_access_key: 'new' } },
    });
  });

  it("places the API's error details at their fields, nested paths at the nearest field", () => {
    const fields = ['name', 'include_events', 'destination.config.bucket_name'];
    const sut = placeErrors(
      [
        { field: 'destination.config.bucket_name', message: 'bad bucket' },
        { field: 'config.bucket_name', message: 'bad bucket (PATCH)' },
        { field: 'include_events.2', message: 'too long' },
        { field: 'body', message: 'invalid JSON' },
      ],
      fields,
    );
    expect([...sut]).to.deep.equal([
      ['destination.config.bucket_name', ['bad bucket', 'bad bucket (PATCH)']],
      ['include_events', ['2: too long']],
      ['', ['invalid JSON']],
    ]);
  });
});

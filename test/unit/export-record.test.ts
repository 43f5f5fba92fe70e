import { expect } from 'chai';
import { isoTimestamp, jsonColumn, toRecordLine, type EventRow } from '@bx/core';

const row = (overrides: Partial<EventRow> = {}): EventRow => ({
  uuid: '0189a1d4-0000-7000-8000-000000000001',
  event: '$pageview',
  properties: '{"a":1}',
  distinct_id: 'd1',
  team_id: '12',
  timestamp: '2024-01-01 00:00:00',
  created_at: '2024-01-01 00:00:00.123456',
  inserted_at: '2024-01-01 01:00:00',
  elements_chain: '',
  person_id: '0189a1d4-0000-7000-8000-000000000002',
  person_properties: '',
  ...overrides,
});

describe('export record', () => {
  it('has the contract shape: objects for JSON columns, numbers, ISO 8601 with offset', () => {
    const sut = JSON.parse(toRecordLine(row()));
    expect(sut).to.deep.equal({
      uuid: '0189a1d4-0000-7000-8000-000000000001',
      event: '$pageview',
      properties: { a: 1 },
      distinct_id: 'd1',
      team_id: 12,
      timestamp: '2024-01-01T00:00:00+00:00',
      created_at: '2024-01-01T00:00:00.123456+00:00',
      inserted_at: '2024-01-01T01:00:00+00:00',
      elements_chain: '',
      person_id: '0189a1d4-0000-7000-8000-000000000002',
      person_properties: null,
    });
    expect(Object.keys(sut)).to.deep.equal([
      'uuid',
      'event',
      'properties',
      'distinct_id',
      'team_id',
      'timestamp',
      'created_at',
      'inserted_at',
      'elements_chain',
      'person_id',
      'person_properties',
    ]);
  });

  it('keeps one record per line whatever the strings hold', () => {
    const hostile = 'line1\nline2\r\u2028"quoted"\\ \u0000 🎉 </script>';
    const sut = toRecordLine(row({ event: hostile, distinct_id: hostile, properties: JSON.stringify({ k: hostile }) }));
    expect(sut).to.not.contain('\n');
    expect(JSON.parse(sut).event).to.equal(hostile);
    expect(JSON.parse(sut).properties).to.deep.equal({ k: hostile });
  });

  it('re-serialises multi-line JSON so it fits on one line', () => {
    expect(jsonColumn('{\n  "a": [1,\n 2]\n}')).to.equal('{"a":[1,2]}');
  });

  it('keeps invalid JSON text as a string rather than losing it or breaking the line', () => {
    expect(JSON.parse(jsonColumn('{not json'))).to.equal('{not json');
    expect(JSON.parse(toRecordLine(row({ properties: '{"a":' }))).properties).to.equal('{"a":');
  });

  it('writes null inserted_at as null and keeps 64-bit team ids exact', () => {
    const sut = toRecordLine(row({ inserted_at: null, team_id: '9007199254740993' }));
    expect(sut).to.contain('"team_id":9007199254740993');
    expect(JSON.parse(sut).inserted_at).to.equal(null);
    expect(isoTimestamp('')).to.equal(null);
  });
});

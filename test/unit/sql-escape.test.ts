import { expect } from 'chai';
import { quoteIdentifier, quoteString } from '@bx/clickhouse';
import { buildEventsQuery } from '@bx/model-events';

describe('SQL escaping', () => {
  it('escapes quotes, backslashes and control characters', () => {
    expect(quoteString("it's")).to.equal("'it\\'s'");
    expect(quoteString('a\\b')).to.equal("'a\\\\b'");
    expect(quoteString("\\'")).to.equal("'\\\\\\''");
    expect(quoteString("'; DROP TABLE events; --")).to.equal("'\\'; DROP TABLE events; --'");
    expect(quoteString('a\nb\0c\r\t')).to.equal("'a\\nb\\0c\\r\\t'");
    expect(quoteString('日本語 🎉')).to.equal("'日本語 🎉'");
  });

  it('quotes identifiers with backquotes', () => {
    expect(quoteIdentifier('events')).to.equal('`events`');
    expect(quoteIdentifier('we`ird')).to.equal('`we\\`ird`');
  });

  it('builds the bounded query with whole-second bounds and escaped filters', () => {
    const sut = buildEventsQuery({
      database: 'default',
      table: 'events',
      intervalColumn: 'inserted_at',
      teamId: 2,
      start: Date.parse('2024-01-01T00:00:00Z'),
      end: Date.parse('2024-01-01T01:00:00Z'),
      includeEvents: ["a'b"],
      excludeEvents: ['c'],
    });
    expect(sut).to.contain('team_id = 2');
    expect(sut).to.contain('`inserted_at` >= toDateTime(1704067200)');
    expect(sut).to.contain('`inserted_at` < toDateTime(1704070800)');
    expect(sut).to.contain("event IN ('a\\'b')");
    expect(sut).to.contain("event NOT IN ('c')");
  });

  it('refuses bounds that are not whole seconds', () => {
    expect(() =>
      buildEventsQuery({ database: 'd', table: 't', intervalColumn: 'inserted_at', teamId: 1, start: 1500, end: 3000 }),
    ).to.throw(/whole second/);
  });
});

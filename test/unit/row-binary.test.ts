import { expect } from 'chai';
import { decodeRowBinary } from '@bx/clickhouse';
import { RetryableError, toRecordLine, type EventRow } from '@bx/core';
import { EventBatch, eventsFormat, Field, FieldEncoding, dateTime64 } from '@bx/batch';
import { frameRows } from '../../packages/clickhouse/src/row-binary-frames';
import { encodeRowBinary, type WireEncoding, type WireRow } from '../helpers/row-binary';
import { seededRandom } from '../helpers/seeded-random';

const wire = (overrides: Partial<WireRow> = {}): WireRow => ({
  uuid: '0189a1d4-0000-7000-8000-000000000001',
  event: '$pageview',
  properties: '{"$current_url":"https://x.example/p","n":1}',
  distinct_id: 'user-1',
  team_id: 7n,
  timestamp: '2024-01-01 00:00:00',
  created_at: '2024-01-01 00:00:01.123456',
  inserted_at: '2024-01-01 01:00:00',
  elements_chain: 'a:nth-child="1"href="/x";button.btn',
  person_id: '0189a1d4-0000-7000-8000-000000000002',
  person_properties: '{"email":"u@example.com"}',
  ...overrides,
});

const ALL_CONTROL = Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).join('');
const HOSTILE: Array<Partial<WireRow>> = [
  {},
  { event: 'quote"double', distinct_id: 'back\\slash', elements_chain: ALL_CONTROL + '\x7f' },
  { event: '日本語 🎉', distinct_id: 'line\u2028sep\u2029', person_properties: '{"name":"Zoë 🎉"}' },
  { properties: '', person_properties: '' },
  { properties: 'not json', person_properties: '{"a":1,}' },
  { properties: '{\n  "pretty": true\n}', person_properties: '{"a":"\u2028"}' },
  { properties: '['.repeat(80) + ']'.repeat(80) },
  { properties: '{"ctl":"\\u0001","esc":"\\"\\\\\\/"}' },
  { properties: '  {"spaced" : 1}  ' },
  { team_id: 2n ** 62n + 1n },
  { team_id: -5n },
  { team_id: 9007199254740993n },
  { team_id: -(2n ** 63n), distinct_id: '' },
  { team_id: 2n ** 63n - 1n, event: '' },
  { inserted_at: null },
  { timestamp: '2024-02-29 23:59:59.999999', inserted_at: '2024-03-01 00:00:00.000001' },
  { elements_chain: 'x'.repeat(100_000), properties: JSON.stringify({ big: 'y'.repeat(300_000) }) },
];

/** What the row path writes: the reference the byte-level path must equal. */
const reference = (batch: EventBatch) =>
  batch
    .rows()
    .map((r) => toRecordLine(r) + '\n')
    .join('');

describe('RowBinary batches: records written from the wire bytes', () => {
  it('write the same bytes as toRecordLine for hostile strings, JSON columns and integers', () => {
    const sut = decodeRowBinary(encodeRowBinary(HOSTILE.map(wire)));
    expect(sut.count).to.equal(HOSTILE.length);
    const records = sut.records().toString('utf8');
    expect(records).to.equal(reference(sut));
    const parsed = records
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed).to.have.length(HOSTILE.length);
    expect(parsed[1]!.elements_chain).to.equal(ALL_CONTROL + '\x7f');
    expect(parsed[2]!.distinct_id).to.equal('line\u2028sep\u2029');
    expect(parsed[4]!.properties).to.equal('not json');
    expect(parsed[5]!.properties).to.deep.equal({ pretty: true });
    expect(parsed[14]!.inserted_at).to.equal(null);
    expect(parsed[15]!.timestamp).to.equal('2024-02-29T23:59:59.999999+00:00');
    expect(records.split('\n')[12]).to.contain('"team_id":-9223372036854775808,');
    expect(records.split('\n')[13]).to.contain('"team_id":9223372036854775807,');
    // Only JSON columns that are invalid, multi-line, U+2028 or too deep take the exact path.
    expect(sut.exactRows).to.equal(3);
  });

  it('write the same bytes as toRecordLine for 3,000 random rows of hostile characters', () => {
    const random = seededRandom(11);
    const pieces = [
      'a',
      'Z',
      ' ',
      '"',
      '\\',
      '\n',
      '\t',
      '\u0000',
      '\u001f',
      '\u007f',
      'é',
      '日',
      '🎉',
      '\u2028',
      '{',
      '}',
      ':',
      ',',
    ];
    const text = (max: number) =>
      Array.from({ length: Math.floor(random() * max) }, () => pieces[Math.floor(random() * pieces.length)]).join('');
    const json = () => {
      const r = random();
      if (r < 0.5) return JSON.stringify({ k: text(40), n: Math.floor(random() * 1e6), a: [true, null, text(5)] });
      if (r < 0.6) return '';
      if (r < 0.7) return text(20);
      return JSON.stringify(text(30));
    };
    const rows = Array.from({ length: 3000 }, () =>
      wire({
        event: text(30),
        distinct_id: text(30),
        elements_chain: text(200),
        properties: json(),
        person_properties: json(),
        team_id: BigInt(Math.floor((random() - 0.5) * 2 ** 40)),
        inserted_at: random() < 0.1 ? null : '2024-01-01 01:00:00',
      }),
    );
    const sut = decodeRowBinary(encodeRowBinary(rows));
    expect(sut.records().toString('utf8')).to.equal(reference(sut));
    // Both paths ran: the fast one for most rows, toRecordLine for the rest.
    expect(sut.exactRows).to.be.greaterThan(100);
    expect(sut.exactRows).to.be.lessThan(2900);
  });

  it('write the same records into shared memory (recordsInto), as many rows as surely fit', () => {
    const sut = decodeRowBinary(encodeRowBinary(HOSTILE.map(wire)));
    const expected = sut.records();
    const target = new Uint8Array(new SharedArrayBuffer(expected.length * 8), 16);
    const all = sut.recordsInto(target);
    expect(all).to.deep.equal({ next: sut.count, bytes: expected.length });
    expect(Buffer.from(target.subarray(0, all.bytes)).equals(expected)).to.equal(true);
    // The exact path (a JSON column to normalise) wrote its rows there too.
    expect(sut.exactRows).to.equal(3);
    // Room is asked for before each row (256 + 6 x its bytes): short of that, the rows so far and where they stop.
    const short = new Uint8Array(expected.length);
    const some = sut.recordsInto(short);
    expect(some.next).to.be.above(0).and.below(sut.count);
    const rest = sut.recordsInto(new Uint8Array(expected.length * 8), some.next);
    expect(rest.next).to.equal(sut.count);
    expect(
      Buffer.concat([short.subarray(0, some.bytes), Buffer.from(sut.records(some.next))]).equals(expected),
    ).to.equal(true);
    expect(sut.recordsInto(new Uint8Array(100))).to.deep.equal({ next: 0, bytes: 0 });
    // Bytes that are not UTF-8 in a plain string: that row is written by toRecordLine there too.
    const inEvent = decodeRowBinary(encodeRowBinary([wire(), wire({ event: Buffer.from([0x61, 0xff]) })]));
    const into = new Uint8Array(100_000);
    const m = inEvent.recordsInto(into);
    expect(Buffer.from(into.subarray(0, m.bytes)).toString('utf8')).to.equal(reference(inEvent));
    expect(inEvent.exactRows).to.equal(1);
  });

  it('read binary UUIDs and timestamps as the text ClickHouse writes for them, into the same rows and records', () => {
    const times: Array<Partial<WireRow>> = [
      { timestamp: '1970-01-01 00:00:00', created_at: '2106-02-07 06:28:15', inserted_at: '2038-01-19 03:14:08' },
      { timestamp: '2024-02-29 23:59:59.999999', created_at: '2000-02-29 12:00:00.000001', inserted_at: null },
      { uuid: 'ffffffff-ffff-ffff-ffff-ffffffffffff', person_id: '00000000-0000-0000-0000-000000000000' },
    ];
    const rows = [...HOSTILE, ...times].map(wire);
    const cases: Array<[WireEncoding, number, number]> = [
      [{ uuid: 'binary', time: 6 }, FieldEncoding.UUID, dateTime64(6)],
      [{ uuid: 'binary', time: 'datetime' }, FieldEncoding.UUID, FieldEncoding.DATE_TIME],
      [{ time: 0 }, FieldEncoding.TEXT, dateTime64(0)],
      [{ time: 3 }, FieldEncoding.TEXT, dateTime64(3)],
      [{ time: 9 }, FieldEncoding.TEXT, dateTime64(9)],
    ];
    for (const [encoding, uuid, time] of cases) {
      const layout = new Uint8Array(11);
      layout[Field.uuid] = layout[Field.person_id] = uuid;
      layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = time;
      // The text toString() writes for the column: DateTime64(p) always with p digits.
      const digits = encoding.time === 'datetime' ? 0 : (encoding.time as number);
      const printed = (t: string | null) => {
        if (t === null) return null;
        const [whole, fraction = ''] = t.split('.');
        return digits ? `${whole}.${(fraction + '0'.repeat(digits)).slice(0, digits)}` : whole!;
      };
      const twin = rows.map((r) => ({
        ...r,
        timestamp: printed(r.timestamp)!,
        created_at: printed(r.created_at)!,
        inserted_at: printed(r.inserted_at),
      }));
      const sut = decodeRowBinary(encodeRowBinary(rows, encoding), eventsFormat(layout));
      const text = decodeRowBinary(encodeRowBinary(twin));
      const what = JSON.stringify(encoding);
      expect(sut.rows(), what).to.deep.equal(text.rows());
      expect(sut.records().toString('utf8'), what).to.equal(text.records().toString('utf8'));
      expect(sut.records().toString('utf8'), what).to.equal(reference(sut));
      expect(sut.exactRows, what).to.equal(text.exactRows);
    }
  });

  it('write binary UUIDs of every digit, and timestamps of runs of one day and of days apart, as the text path does', () => {
    const random = seededRandom(29);
    const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(random() * 16)]).join('');
    const uuid = () => `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
    // Runs of rows on one day (the date's text is reused from row to row), then a jump of days or years.
    let day = Date.parse('2024-02-27T00:00:00Z');
    const instant = () => {
      if (random() < 0.05) day += Math.floor((random() - 0.3) * 800) * 86_400_000;
      const ms = day + Math.floor(random() * 86_400_000);
      return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}.${String(Math.floor(random() * 1e6)).padStart(6, '0')}`;
    };
    const rows = Array.from({ length: 2000 }, () =>
      wire({
        uuid: uuid(),
        person_id: uuid(),
        timestamp: instant(),
        created_at: instant(),
        inserted_at: random() < 0.1 ? null : instant(),
      }),
    );
    for (const digits of [6, 0]) {
      const layout = new Uint8Array(11);
      layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = dateTime64(digits);
      layout[Field.uuid] = layout[Field.person_id] = FieldEncoding.UUID;
      const printed = (t: string | null) => (t === null || digits ? t : t.slice(0, 19));
      const twin = rows.map((r) => ({
        ...r,
        timestamp: printed(r.timestamp)!,
        created_at: printed(r.created_at)!,
        inserted_at: printed(r.inserted_at),
      }));
      const sut = decodeRowBinary(encodeRowBinary(rows, { uuid: 'binary', time: digits }), eventsFormat(layout));
      const text = decodeRowBinary(encodeRowBinary(twin));
      expect(sut.exactRows).to.equal(0);
      expect(sut.rows().map((r) => [r.uuid, r.person_id])).to.deep.equal(rows.map((r) => [r.uuid, r.person_id]));
      expect(sut.records().toString('utf8')).to.equal(text.records().toString('utf8'));
      expect(sut.records().toString('utf8')).to.equal(reference(sut));
    }
  });

  it('read timestamps before 1970 from a DateTime64, the fraction counted up from the second before', () => {
    const layout = new Uint8Array(11);
    layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = dateTime64(6);
    const bytes = encodeRowBinary([wire()], { time: 6 });
    // timestamp: -0.5 s, the first 8-byte value after uuid, event, properties, distinct_id and team_id.
    const at = decodeRowBinary(bytes, eventsFormat(layout)).start(0, Field.timestamp);
    bytes.writeBigInt64LE(-500_000n, at);
    const [row] = decodeRowBinary(bytes, eventsFormat(layout)).rows();
    expect(row!.timestamp).to.equal('1969-12-31 23:59:59.500000');
    expect(JSON.parse(decodeRowBinary(bytes, eventsFormat(layout)).records().toString()).timestamp).to.equal(
      '1969-12-31T23:59:59.500000+00:00',
    );
  });

  it('decode rows as text, team_id exact beyond 2^53', () => {
    const [row] = decodeRowBinary(encodeRowBinary([wire({ team_id: 9007199254740993n, inserted_at: null })])).rows();
    expect(row).to.deep.include({ team_id: '9007199254740993', inserted_at: null, event: '$pageview' });
    expect(JSON.parse(toRecordLine(row!)).team_id).to.equal(9007199254740992); // JSON.parse rounds; the text is exact
    expect(toRecordLine(row!)).to.contain('"team_id":9007199254740993,');
  });

  it('replace bytes that are not UTF-8 with U+FFFD, as the row path does', () => {
    const bad = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"<ff fe>"}
    const sut = decodeRowBinary(encodeRowBinary([wire(), wire({ properties: bad, event: Buffer.from([0xc3]) })]));
    const records = sut.records();
    expect(records.toString('utf8')).to.equal(reference(sut));
    const second = JSON.parse(records.toString('utf8').split('\n')[1]!);
    expect(second.properties).to.deep.equal({ a: '\ufffd\ufffd' });
    expect(second.event).to.equal('\ufffd');
    // The JSON column is refused by the validator: that row alone takes the exact path.
    expect(sut.exactRows).to.equal(1);
    // Only a plain string is not UTF-8: that row alone is written by toRecordLine, with U+FFFD.
    const inEvent = decodeRowBinary(
      encodeRowBinary([wire(), wire({ event: Buffer.from([0x61, 0xff]) }), wire({ distinct_id: 'Zoë 日本 🎉' })]),
    );
    expect(inEvent.records().toString('utf8')).to.equal(reference(inEvent));
    expect(inEvent.exactRows).to.equal(1);
    // Cut sequences, overlong forms and surrogates, at every position of the 8-byte scan.
    const broken = [[0xc3], [0xe6, 0x97], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80]];
    for (let lead = 0; lead < 9; lead++) {
      for (const seq of broken) {
        const text = Buffer.concat([Buffer.from('x'.repeat(lead)), Buffer.from(seq), Buffer.from('é tail')]);
        const batch = decodeRowBinary(encodeRowBinary([wire({ elements_chain: text })]));
        expect(batch.records().toString('utf8'), `${lead} ${seq}`).to.equal(reference(batch));
        expect(batch.exactRows).to.equal(1);
      }
    }
  });

  it('frame only complete rows of a cut buffer, and say how many bytes the next row needs', () => {
    const rows = [wire(), wire({ properties: JSON.stringify({ big: 'z'.repeat(5000) }) }), wire()];
    const bytes = encodeRowBinary(rows);
    const one = encodeRowBinary([rows[0]!]).length;
    const two = encodeRowBinary(rows.slice(0, 2)).length;
    for (let cut = 0; cut <= bytes.length; cut++) {
      const frames = frameRows(bytes.subarray(0, cut));
      const complete = cut >= bytes.length ? 3 : cut >= two ? 2 : cut >= one ? 1 : 0;
      expect(frames.count, `cut at ${cut}`).to.equal(complete);
      expect(frames.used).to.equal([0, one, two, bytes.length][complete]);
      if (complete < 3) expect(frames.need).to.be.greaterThan(cut);
    }
  });

  it('batches built from row objects give the rows back, and the same records, odd timestamps included', () => {
    const rows: EventRow[] = decodeRowBinary(encodeRowBinary(HOSTILE.map(wire))).rows();
    rows.push({ ...rows[0]!, timestamp: 'not a time', created_at: '', inserted_at: null });
    const sut = EventBatch.fromRows(rows);
    expect(sut.rows()).to.deep.equal(rows);
    expect(sut.records().toString()).to.equal(rows.map((r) => toRecordLine(r) + '\n').join(''));
    expect(sut.exactRows).to.equal(4);
  });

  it('frame more rows than the reused index first holds, every field in place', () => {
    const rows = Array.from({ length: 10_000 }, (_, i) =>
      wire({ distinct_id: `user-${i}`, team_id: BigInt(i) - 5000n }),
    );
    const frames = frameRows(encodeRowBinary(rows));
    expect(frames.count).to.equal(10_000);
    const batch = new EventBatch(encodeRowBinary(rows), frames.index, frames.count);
    expect(batch.row(9_999)).to.include({ distinct_id: 'user-9999', team_id: '4999' });
    expect(batch.row(0)).to.include({ distinct_id: 'user-0', team_id: '-5000' });
  });

  it("name what is wrong with a row that is not of the query's shape", () => {
    const good = encodeRowBinary([wire()]);
    const failure = (bytes: Buffer) => {
      try {
        frameRows(bytes);
      } catch (err) {
        expect(err).to.be.instanceOf(RetryableError);
        return (err as Error).message;
      }
      return 'framed';
    };
    expect(failure(encodeRowBinary([wire(), wire({ uuid: 'not-a-uuid' })]))).to.equal(
      `ClickHouse stream broken: not a UUID in uuid at byte ${good.length}`,
    );
    expect(failure(encodeRowBinary([wire({ person_id: '0189a1d4_0000_7000_8000_000000000002' })]))).to.contain(
      'not a UUID in person_id at byte 0',
    );
    expect(failure(encodeRowBinary([wire({ created_at: '2024-01-01T00:00:01' })]))).to.contain(
      'not a timestamp in created_at',
    );
    expect(failure(encodeRowBinary([wire({ inserted_at: '2024-01-01 01:00:00' + '0'.repeat(20) })]))).to.contain(
      'not a timestamp in inserted_at',
    );
    const flagAt = good.indexOf(Buffer.from('\x00\x132024-01-01 01:00:00'));
    const badFlag = Buffer.from(good);
    badFlag[flagAt] = 7;
    expect(failure(badFlag)).to.contain('null flag 7 in inserted_at at byte 0');
    // A length of more than 5 varint bytes: an error text read as a row.
    const badLength = Buffer.concat([Buffer.from([36]), Buffer.from(wire().uuid), Buffer.alloc(7, 0xff)]);
    expect(failure(badLength)).to.contain('string length out of range in event');
    expect(failure(good)).to.equal('framed');
  });

  it('report a stream that breaks off into a ClickHouse error instead of decoding it', () => {
    const error = Buffer.from('Code: 241, e.displayText() = DB::Exception: Memory limit exceeded');
    const bytes = Buffer.concat([encodeRowBinary([wire()]), error]);
    const err = (() => {
      try {
        decodeRowBinary(bytes);
      } catch (e) {
        return e;
      }
    })();
    expect(err).to.be.instanceOf(RetryableError);
    expect((err as Error).message).to.contain('Memory limit exceeded');
  });

  it("name ClickHouse's exception wherever it breaks the answer off, even when its text was read as the last fields of a row", () => {
    // ClickHouse 18.16 writes its exception into a 200 answer after the rows it sent. Cut within
    // elements_chain, person_id or person_properties (after inserted_at), the row before took the
    // text's first bytes as its own and looked complete: the failure was reported at the next row,
    // past the text's start, as 'incomplete row' or 'null flag 112': the reason lost.
    const layout = new Uint8Array(11);
    layout[Field.uuid] = layout[Field.person_id] = FieldEncoding.UUID;
    layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = FieldEncoding.DATE_TIME;
    const format = eventsFormat(layout);
    const rows = encodeRowBinary([wire(), wire({ properties: '{"i":2}' }), wire({ elements_chain: 'x'.repeat(90) })], {
      uuid: 'binary',
      time: 'datetime',
    });
    const text =
      'Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded: would use 9.32 GiB ' +
      '(attempt to allocate chunk of 4194304 bytes), maximum: 9.31 GiB, e.what() = DB::Exception\n';
    const unnamed: string[] = [];
    let decoded = 0;
    for (let cut = 1; cut < rows.length; cut++) {
      const answer = Buffer.concat([rows.subarray(0, cut), Buffer.from(text)]);
      for (const [how, read] of [
        ['at its end', () => decodeRowBinary(answer, format)],
        ['mid-stream', () => frameRows(answer, format)],
      ] as const) {
        try {
          read();
        } catch (err) {
          if (!(err as Error).message.includes(`ClickHouse stream broken: ${text.trim()}`))
            unnamed.push(`cut at ${cut} (${how}): ${(err as Error).message}`);
          continue;
        }
        // Known gap (docs/operations.md): a text that fills the last row's last three fields exactly
        // (1 cut in ~550 here) decodes; ClickHouse itself breaks off between rows, where it cannot.
        if (how === 'at its end') decoded++;
      }
    }
    expect(unnamed.slice(0, 5), `${unnamed.length} of ${rows.length - 1} cuts`).to.deep.equal([]);
    expect(decoded).to.be.at.most(1);
    // A wide row (properties of 1 MB) broken off in its middle: the text is far past the row's start.
    const wide = encodeRowBinary([wire(), wire({ properties: JSON.stringify({ big: 'z'.repeat(1 << 20) }) })], {
      uuid: 'binary',
      time: 'datetime',
    });
    const half = Buffer.concat([wide.subarray(0, wide.length - (1 << 19)), Buffer.from(text)]);
    expect(() => decodeRowBinary(half, format)).to.throw(RetryableError, `ClickHouse stream broken: ${text.trim()}`);
  });

  it('quote no text from the rows themselves as the exception: only text that runs to where the answer ends', () => {
    const forged = 'Code: 999, e.displayText() = DB::Exception: forged by a user';
    const rows = encodeRowBinary([wire({ properties: JSON.stringify({ note: forged }) }), wire()]);
    // Cut in the second row's person_id, with no exception after it (the server went away).
    const cut = rows.subarray(0, rows.length - 40);
    expect(() => decodeRowBinary(cut))
      .to.throw(RetryableError, /incomplete row at the end of the stream/)
      .with.property('message')
      .that.does.not.contain('forged');
    const real = 'Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded';
    expect(() => decodeRowBinary(Buffer.concat([cut, Buffer.from(real)]))).to.throw(RetryableError, real);
  });

  it("quote ClickHouse's exception, not a user's 'Code: ' in the text fields that end the last whole row", () => {
    // person_properties ends a row and is text: nothing binary lies between it and the exception.
    const user = JSON.stringify({ note: 'Code: 7 from the user', email: 'alice@example.com' });
    const rows = encodeRowBinary([wire(), wire({ person_properties: user })]);
    const real = 'Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded';
    expect(() => decodeRowBinary(Buffer.concat([rows, Buffer.from(real)])))
      .to.throw(RetryableError, `ClickHouse stream broken: ${real}`)
      .with.property('message')
      .that.does.not.contain('alice');
  });

  it('report an error after binary rows too, however long its text (the null flag of inserted_at is never ASCII)', () => {
    const layout = new Uint8Array(11);
    layout[Field.uuid] = layout[Field.person_id] = FieldEncoding.UUID;
    layout[Field.timestamp] = layout[Field.created_at] = layout[Field.inserted_at] = FieldEncoding.DATE_TIME;
    const rows = encodeRowBinary([wire(), wire()], { uuid: 'binary', time: 'datetime' });
    const text = 'Code: 241, e.displayText() = DB::Exception: Memory limit exceeded (for query) ';
    for (let n = 1; n <= 600; n += 7) {
      const error = Buffer.from(text.repeat(10).slice(0, n));
      expect(() => decodeRowBinary(Buffer.concat([rows, error]), eventsFormat(layout)), `${n} bytes of error`).to.throw(
        RetryableError,
        /ClickHouse stream broken/,
      );
    }
  });
});

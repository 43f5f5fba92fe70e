import { expect } from 'chai';
import { jsonColumn } from '@bx/core';
import { EventBatch, Field, SLOTS, verbatimJsonField } from '@bx/batch';
import { isUtf8 } from 'node:buffer';
import { seededRandom } from '../helpers/seeded-random';

/**
 * What the validator must answer: jsonColumn keeps these texts as they are.
 * Texts with U+2028/U+2029 are left to jsonColumn (it re-serialises them), so
 * the validator answers false for them even where the result is the same text.
 */
function verbatim(text: string): boolean {
  return text !== '' && jsonColumn(text) === text && !/[\u2028\u2029]/.test(text) && !longNumber(text);
}

/**
 * Whether valid JSON text holds a number PostgreSQL's numeric may refuse
 * (left to the exact path, see json_scan.c): 6,000 characters or more before
 * the exponent, or an exponent of five digits or more.
 */
function longNumber(text: string): boolean {
  for (const [token] of text.matchAll(/"(?:[^"\\]|\\.)*"|-?([\d.]+)(?:[eE][+-]?0*(\d+))?/g)) {
    const m = /^-?([\d.]+)(?:[eE][+-]?0*(\d*))?$/.exec(token);
    if (m && (m[1]!.length >= 6000 || (m[2] ?? '').length >= 5)) return true;
  }
  return false;
}

/** The check over a one-row batch whose properties field is b[start, end). */
function isVerbatim(b: Uint8Array, start: number, end: number): boolean {
  const index = new Int32Array(SLOTS);
  index[2 * Field.properties] = start;
  index[2 * Field.properties + 1] = end;
  return verbatimJsonField(b, index, 1, Field.properties)[0] === 1;
}

const CORPUS = [
  '{}',
  '[]',
  '{"a":1}',
  ' {"a" : [1, 2.5e-3, -0, true, false, null, "x"]}\t',
  '{"$current_url":"https:\\/\\/x.example\\/p?q=1&r=\\"2\\""}',
  '{"u":"\\u00e9\\uD83D\\uDE00","bad":"\\ud800"}',
  // Escapes above the surrogates are no first half of a pair: each text alone, or one hides the others.
  '{"pua":"\\ue000\\udc00"}',
  '{"r":"\\uFFFD\\uDFFF"}',
  '{"max":"\\uffff"}',
  '{"fw":"\\uff01"}',
  '{"nested":{"a":{"b":{"c":[[[]]]}}}}',
  '"just a string"',
  '42',
  '-1.5E+7',
  'null',
  '{"emoji":"🎉 日本語"}',
  '{"a":1,}',
  '{a:1}',
  '{"a":1}}',
  '{"a":1} x',
  '01',
  '1.',
  '-',
  '.5',
  '+1',
  '[1 2]',
  '{"a" 1}',
  '"\\q"',
  '"\\u12"',
  '"\\u12G4"',
  'tru',
  'nul',
  'NaN',
  'Infinity',
  '{"a":"tab\there"}',
  '{"a":\n1}',
  '{"a":1}\r',
  '{"a":"\u2028"}',
  '{"a":"\u2029"}',
  '{"a":"\u2027"}',
  '\ufeff{}',
  '{"a":"x"',
  '[',
  '"',
  '"\\"',
  '{"":""}',
  '['.repeat(63) + ']'.repeat(63),
  '[1e9999,1E+09999,-2.5e-0000001,1e0]',
  '[1e10000]',
  '[1E-10000]',
  '[1e000010000]',
  '{"a":"1e10000"}',
  `[${'9'.repeat(5999)}]`,
  `[${'9'.repeat(6000)}]`,
  `[0.${'1'.repeat(5998)}]`,
  'not json at all',
  "{'a':1}",
];

const check = (text: string) => {
  const bytes = Buffer.from(text);
  return isVerbatim(bytes, 0, bytes.length);
};

describe('verbatimJsonField (C, packages/native): JSON text copied into a record without parsing', () => {
  it('agrees with jsonColumn on a corpus of valid, invalid and line-breaking texts', () => {
    for (const text of CORPUS) expect(check(text), JSON.stringify(text)).to.equal(verbatim(text));
  });

  it('leaves documents nested deeper than it checks to the exact path', () => {
    const deep = '['.repeat(100) + ']'.repeat(100);
    expect(verbatim(deep)).to.equal(true);
    expect(check(deep)).to.equal(false);
  });

  it('accepts only well-formed UTF-8 inside strings', () => {
    const doc = (...inner: number[]) => Buffer.from([0x22, ...inner, 0x22]);
    const accepts = (...inner: number[]) => isVerbatim(doc(...inner), 0, inner.length + 2);
    expect(accepts(0xc3, 0xa9)).to.equal(true); // é
    expect(accepts(0xf0, 0x9f, 0x8e, 0x89)).to.equal(true); // 🎉
    expect(accepts(0xe2, 0x80, 0xa7)).to.equal(true); // U+2027
    expect(accepts(0xc3)).to.equal(false); // truncated
    expect(accepts(0xc0, 0xaf)).to.equal(false); // overlong
    expect(accepts(0xed, 0xa0, 0x80)).to.equal(false); // surrogate
    expect(accepts(0xf4, 0x90, 0x80, 0x80)).to.equal(false); // beyond U+10FFFF
    expect(accepts(0xff)).to.equal(false);
    expect(accepts(0x80)).to.equal(false); // lone continuation
  });

  it('checks only the given range of a larger buffer', () => {
    const bytes = Buffer.from('xx{"a":1}yy');
    expect(isVerbatim(bytes, 2, 9)).to.equal(true);
    expect(isVerbatim(bytes, 2, 8)).to.equal(false);
    expect(isVerbatim(bytes, 2, 10)).to.equal(false);
    // A value ending in a backslash or a truncated escape, with more bytes after it.
    const tail = Buffer.from('"ab\\u12"rest');
    expect(isVerbatim(tail, 0, 4)).to.equal(false);
    expect(isVerbatim(tail, 0, 7)).to.equal(false);
  });

  it('finds a special byte at any position of a long string (the C scan reads 8 bytes at a time)', () => {
    const specials = ['\u0001', '\u001f', '"', '\\', '\\n', '\\u00e9', 'é', '\u007f', '\u2028', '🎉', '\n'];
    let checked = 0;
    for (const special of specials) {
      for (let at = 0; at < 24; at++) {
        for (const tail of [0, 1, 7, 8, 9, 17]) {
          const text = `{"k":"${'a'.repeat(at)}${special}${'b'.repeat(tail)}","n":1}`;
          expect(check(text), JSON.stringify(text)).to.equal(verbatim(text));
          checked++;
        }
      }
    }
    expect(checked).to.equal(specials.length * 24 * 6);
  });

  it('checks a value the same whatever bytes precede it in the buffer (the C scan reads the 16 that end a value)', () => {
    const hostile = Buffer.from([
      0x22, 0x5c, 0x01, 0xff, 0x0a, 0x22, 0x7d, 0x5c, 0xc3, 0x00, 0x22, 0x5c, 0x80, 0x1f, 0x22, 0x22,
    ]);
    const texts = [
      ...CORPUS,
      '{"plan":"pro"}',
      '{"a":""}',
      '"x"',
      '""',
      '{"$browser":"Chrome","price":916,"blob":""}',
      '["é","\\u00e9","a\\"b",""]',
      '{"a":"\u2028"}',
      '{"k":"abc',
    ];
    let checked = 0;
    for (const text of texts) {
      const value = Buffer.from(text);
      for (let before = 0; before <= 16; before++) {
        const bytes = Buffer.concat([hostile.subarray(0, before), value, hostile]);
        expect(isVerbatim(bytes, before, before + value.length), `${before}: ${JSON.stringify(text)}`).to.equal(
          verbatim(text),
        );
        checked++;
      }
    }
    expect(checked).to.equal(texts.length * 17);
  });

  it('never accepts a text JSON.parse refuses, over 20,000 random mutations', () => {
    const random = seededRandom(7);
    const alphabet = [
      '{',
      '}',
      '[',
      ']',
      '"',
      '\\',
      ':',
      ',',
      ' ',
      '\n',
      '0',
      '1',
      '-',
      '.',
      'e',
      'u',
      'a',
      't',
      'n',
      'é',
      '\u0001',
      '\u2028',
    ];
    let accepted = 0;
    for (let n = 0; n < 20_000; n++) {
      const base = CORPUS[Math.floor(random() * 12)]!;
      const chars = [...base];
      const edits = 1 + Math.floor(random() * 3);
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(random() * (chars.length + 1));
        const op = random();
        if (op < 0.4) chars.splice(at, 1);
        else if (op < 0.8) chars.splice(at, 0, alphabet[Math.floor(random() * alphabet.length)]!);
        else chars.splice(at, 1, alphabet[Math.floor(random() * alphabet.length)]!);
      }
      const text = chars.join('');
      const got = check(text);
      if (got) accepted++;
      expect(got, JSON.stringify(text)).to.equal(verbatim(text));
    }
    // The mutations must exercise both answers, or the test proves nothing.
    expect(accepted).to.be.greaterThan(1000);
    expect(accepted).to.be.lessThan(19_000);
  });
});

describe('verbatimJsonField: one call per batch', () => {
  it('answers per row from the batch index, empty and null fields 0, as jsonColumn would keep them', () => {
    const texts = ['{"a":1}', '', '{bad', '[1,2]', '"x"', '{"a":\n1}'];
    const bytes = Buffer.from('pad' + texts.join(''));
    const index = new Int32Array(texts.length * SLOTS + SLOTS);
    let at = 3;
    texts.forEach((t, r) => {
      index[r * SLOTS + 2 * Field.person_properties] = at;
      at += Buffer.byteLength(t);
      index[r * SLOTS + 2 * Field.person_properties + 1] = at;
    });
    // A null field (start -1) in the last row.
    index[texts.length * SLOTS + 2 * Field.person_properties] = -1;
    index[texts.length * SLOTS + 2 * Field.person_properties + 1] = -1;
    const flags = verbatimJsonField(bytes, index, texts.length + 1, Field.person_properties);
    const expected = texts.map((t) => (verbatim(t) ? 1 : 0));
    expect([...flags]).to.deep.equal([...expected, 0]);
    expect([...flags]).to.deep.equal([1, 0, 0, 1, 1, 0, 0]);
  });

  it('refuses an index too short for the count, or a field past the end of the buffer', () => {
    const bytes = Buffer.from('{}');
    expect(() => verbatimJsonField(bytes, new Int32Array(SLOTS), 2, Field.properties)).to.throw(/bad arguments/);
    const index = new Int32Array(SLOTS);
    index[2 * Field.properties + 1] = 50;
    expect([...verbatimJsonField(bytes, index, 1, Field.properties)]).to.deep.equal([0]);
  });
});

describe('EventBatch.utf8 (C): the text fields check', () => {
  const pieces = [
    'a',
    'plain ascii text ',
    'é',
    '日本',
    '🎉',
    '\u2028',
    [0xc0, 0xaf], // overlong '/'
    [0xed, 0xa0, 0x80], // a surrogate
    [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
    [0xe2, 0x82], // cut short
    [0x80],
    [0xff],
  ].map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p)));

  it('agrees with isUtf8 on 5,000 random texts, at every alignment of the 8-byte scan', () => {
    const random = seededRandom(7);
    for (let t = 0; t < 5000; t++) {
      const parts: Buffer[] = [Buffer.alloc(Math.floor(random() * 9), 0x20)];
      const n = Math.floor(random() * 12);
      for (let k = 0; k < n; k++) {
        const p = pieces[Math.floor(random() * pieces.length)]!;
        parts.push(random() < 0.8 && p[0]! >= 0x80 && p.length < 2 ? Buffer.from('x') : p);
      }
      const text = Buffer.concat(parts);
      const lead = Math.floor(random() * 8);
      const bytes = Buffer.concat([Buffer.alloc(lead, 0xff), text, Buffer.alloc(3, 0xff)]);
      const index = new Int32Array(SLOTS).fill(-1);
      index[2 * Field.event] = lead;
      index[2 * Field.event + 1] = lead + text.length;
      const batch = new EventBatch(bytes, index, 1);
      expect(batch.utf8(Uint8Array.of(Field.event)), `${text.toString('hex')}`).to.equal(isUtf8(text));
      // Null fields (-1) are skipped; the bytes around the field are not read.
      expect(batch.utf8(Uint8Array.of(Field.uuid, Field.event))).to.equal(isUtf8(text));
    }
  });
});

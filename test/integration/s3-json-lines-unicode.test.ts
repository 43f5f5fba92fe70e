import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { S3Destination } from '@bx/destination-s3';
import { readJsonLinesWithDuckDb, readParquet } from '../helpers/duckdb';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { runContext } from '../helpers/run-context';
import { createBucket, getObject, listKeys, s3TestConfig, testS3Client } from '../helpers/s3';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const at = (s: number) => chTime(new Date(span.start + s * 1000).toISOString());

/** JSON texts with lone surrogate escapes (a high one alone or at the end, a low one alone, in keys), and what is kept. */
const TEXTS: Array<[source: string, written: unknown]> = [
  ['{"lone":"\\ud800"}', { lone: '\uFFFD' }],
  ['{"\\uDBFFkey":"a\\uDC00b","end":"x\\ud83d"}', { '\uFFFDkey': 'a\uFFFDb', end: 'x\uFFFD' }],
  [
    '{"pair":"\\ud83d\\ude00","escaped":"\\\\ud800","bom":"\\ufeff\uFEFF","ls":"\u2028"}',
    {
      pair: '😀',
      escaped: '\\ud800',
      bom: '\uFEFF\uFEFF',
      ls: '\u2028',
    },
  ],
  ['["\\ud800\\ud800",{"k":["\\udc00"]}]', ['\uFFFD\uFFFD', { k: ['\uFFFD'] }]],
  // Escapes above the surrogates (U+E000..U+FFFF) are no first half: a low one after them is alone.
  ['{"x":"\\ue000\\udc00"}', { x: '\uE000\uFFFD' }],
  ['{"y":"\\uFFFD\\uDFFF"}', { y: '\uFFFD\uFFFD' }],
  ['{"z":"\\uffff"}', { z: '\uFFFF' }],
  // Not JSON: the text as a JSON string (JSON.stringify of decoded UTF-8 holds no lone surrogate).
  ['{"broken":"\\ud800"', '{"broken":"\\ud800"'],
];

/**
 * JSON Lines and Parquet of the same rows hold the same values: a lone
 * surrogate escape in a JSON column (`"\ud800"`, which JSON.parse accepts but
 * is no character) is U+FFFD in both, as PostgreSQL and PostHog's own files
 * have it. JSON Lines kept the escape, and DuckDB's reader (like every strict
 * one) refused the whole file.
 */
describe('S3 destination: lone surrogate escapes in JSON Lines and Parquet', function () {
  this.timeout(60_000);
  let client: S3Client;
  let bucket: string;
  // Wide rows too: past the size the native writer handles in place.
  const padded = (text: string) => text.replace(/^\{/, `{"pad":"${'p'.repeat(70_000)}",`).replace(/^\[/, '["p",');
  const events = TEXTS.flatMap(([text], i) => [
    makeEvent({ inserted_at: at(i + 1), properties: text, person_properties: text }),
    makeEvent({ inserted_at: at(i + 100), properties: padded(text) }),
  ]);

  before(async () => {
    client = testS3Client();
    bucket = await createBucket(client);
  });

  it('JSON Lines: U+FFFD for each lone surrogate escape, a pair kept; DuckDB reads the file; Parquet agrees', async () => {
    const files: Record<string, Buffer> = {};
    for (const file_format of ['JSONLines', 'Parquet'] as const) {
      const config = s3TestConfig(bucket, { file_format, compression: null, prefix: file_format });
      await new S3Destination(config).write(rowBatches(asRows(events), 3), runContext(span));
      const [key] = await listKeys(client, bucket, `${file_format}/`);
      files[file_format] = await getObject(client, bucket, key!);
    }
    const lines = files.JSONLines!.toString('utf8').trimEnd().split('\n');
    expect(lines).to.have.length(events.length);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const [i, [, written]] of TEXTS.entries()) {
      expect(records[2 * i]!.properties, TEXTS[i]![0]).to.deep.equal(written);
      expect(records[2 * i]!.person_properties, TEXTS[i]![0]).to.deep.equal(written);
      expect(records[2 * i + 1]!.properties, 'wide').to.deep.equal(
        typeof written === 'string' ? padded(written) : JSON.parse(padded(JSON.stringify(written))),
      );
    }
    const duck = await readJsonLinesWithDuckDb(files.JSONLines!);
    expect(duck.map((r) => r.uuid)).to.deep.equal(records.map((r) => r.uuid));
    const parquet = (await readParquet(files.Parquet!)).rows;
    for (const column of ['properties', 'person_properties'] as const) {
      const json = (v: unknown) => (v === null ? null : JSON.parse(v as string));
      expect(
        duck.map((r) => json(r[column])),
        column,
      ).to.deep.equal(records.map((r) => r[column]));
      expect(
        parquet.map((r) => json(r[column])),
        column,
      ).to.deep.equal(records.map((r) => r[column]));
    }
  });
});

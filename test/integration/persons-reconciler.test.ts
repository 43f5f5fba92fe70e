import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { isoSeconds, runIdFor, type Span } from '@bx/core';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { EXPECTED, I0, I1, I2, LATE_MAPPING } from '../helpers/person-scenarios';
import { HOUR, ReconcileBed } from '../helpers/reconcile-bed';
import { createBucket, getObject, readJsonLines, testS3Client } from '../helpers/s3';

const NOW = I2.end + HOUR;
const SPANS = [I0, I1, I2];

/**
 * The reconciler on a persons export: the receipts (records, sum of
 * sipHash64 of the distinct_ids) against one grouped query over PostHog's
 * person tables on ClickHouse 18.16; a mapping row arriving late in an
 * exported interval gets that interval re-exported.
 */
describe('reconciliation of a persons export, S3', function () {
  this.timeout(120_000);
  let bed: ReconcileBed;
  let s3: S3Client;
  let bucket: string;
  const destination = () => ({
    type: 'S3',
    config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix: '{table}', ...S3_CREDENTIALS },
  });
  const stem = (span: Span) => `persons/${isoSeconds(span.start)}-${isoSeconds(span.end)}`;
  const distinctIds = async (span: Span) =>
    (await readJsonLines(s3, bucket, `${stem(span)}.jsonl`)).map((r) => r.distinct_id as string).sort();

  beforeEach(async () => {
    bed = await new ReconcileBed(NOW).start();
    await bed.seedPersons();
    s3 = testS3Client();
    bucket = await createBucket(s3);
  });
  afterEach(() => bed.stop());

  it('matching receipts are ok; a late mapping row: one pass re-exports its interval, receipt version 2', async () => {
    bed.startWorker();
    const id = await bed.createExport(1, I0.start, I2.end, destination(), { model: 'persons' });
    await bed.completed(id, 3);
    const sut = bed.reconciler();
    expect(await sut.pass(NOW)).to.deep.equal({ exports: 1, checked: 3, mismatches: 0, late_rows: 0, repairs: 0 });

    await bed.insertPersons({ mappings: [LATE_MAPPING] });
    expect(await sut.pass(NOW + 60_000)).to.deep.equal({
      exports: 1,
      checked: 3,
      mismatches: 1,
      late_rows: 1,
      repairs: 0,
    });
    await bed.completed(id, 1, 2);
    expect(await distinctIds(I1)).to.deep.equal([...EXPECTED.I1.map((r) => r.distinct_id), 'z'].sort());
    const runs = await bed.store.runs.getMany(SPANS.map((s) => runIdFor(id, s.start)));
    expect(runs.map((r) => [r!.receipt!.version, r!.receipt!.records])).to.deep.equal([
      [1, EXPECTED.I0.length],
      [2, EXPECTED.I1.length + 1],
      [1, EXPECTED.I2.length],
    ]);
    const receipt = JSON.parse((await getObject(s3, bucket, `${stem(I1)}_receipt.json`)).toString());
    expect(receipt).to.deep.include({ records: EXPECTED.I1.length + 1, version: 2 });
    expect(await sut.pass(NOW + 120_000)).to.deep.equal({
      exports: 1,
      checked: 3,
      mismatches: 0,
      late_rows: 0,
      repairs: 1,
    });
    const view = await bed.exports.reconciliation(id);
    expect(view.results.map((r) => [r.data_interval_start, r.status])).to.deep.equal([
      [new Date(I2.start).toISOString(), 'ok'],
      [new Date(I1.start).toISOString(), 'repaired'],
      [new Date(I0.start).toISOString(), 'ok'],
    ]);
  });
});

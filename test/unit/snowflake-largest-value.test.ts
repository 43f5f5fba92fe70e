import { expect } from 'chai';
import type { RecordBatch } from '@bx/batch';
import { PermanentError, RetryableError } from '@bx/core';
import { LargestValue } from '../../packages/destinations/snowflake/src/largest-value';

/** A batch of one string column whose values are `sizes` bytes long (all LargestValue reads of a batch). */
function batchOf(sizes: number[]): RecordBatch {
  let at = 0;
  const spans = sizes.map((n) => [at, (at += n)] as const);
  return {
    format: { columns: [{ name: 'elements_chain', type: 'string' }] },
    count: sizes.length,
    start: (r: number) => spans[r]![0],
    end: (r: number) => spans[r]![1],
  } as unknown as RecordBatch;
}

const refused = () =>
  new RetryableError('Snowflake COPY failed: 100082: Max LOB size (16777216) exceeded', { code: 'LoadFailed' });

describe('LargestValue: what a COPY refused for a value too large says', () => {
  it('a value sent under 16 MB is not said to be more than Snowflake stores', () => {
    const sut = new LargestValue();
    sut.add(batchOf([10, 15 * 1024 * 1024, 3]));
    const err = sut.explain(refused()) as PermanentError;
    expect(err).to.be.instanceOf(PermanentError).with.property('code', 'ValueTooLarge');
    expect(err.message).to.contain(`the largest value sent, in elements_chain, is ${15 * 1024 * 1024} bytes`);
    expect(err.message).not.to.contain('more than Snowflake stores');
  });

  it('other errors pass as they are', () => {
    const other = new RetryableError('Snowflake COPY failed: 390114', { code: 'X' });
    expect(new LargestValue().explain(other)).to.equal(other);
  });
});

import { expect } from 'chai';
import { PermanentError, RetryableError } from '@bx/core';
import { classifyS3Error } from '@bx/destination-s3';

/** An error as the AWS SDK throws it for an S3 error answer. */
function s3Error(name: string, status: number): Error {
  return Object.assign(new Error(`${name} message`), { name, $metadata: { httpStatusCode: status } });
}

describe('classifyS3Error', () => {
  it('retries an upload that vanished (a completion whose answer was lost): NoSuchUpload 404', () => {
    const sut = classifyS3Error(s3Error('NoSuchUpload', 404), 'upload');
    expect(sut).to.be.instanceOf(RetryableError);
    expect(sut.code).to.equal('NoSuchUpload');
  });

  it('fails for good on what no retry fixes, and retries throttling and server errors', () => {
    expect(classifyS3Error(s3Error('NoSuchBucket', 404), 'upload')).to.be.instanceOf(PermanentError);
    expect(classifyS3Error(s3Error('InvalidAccessKeyId', 403), 'upload')).to.be.instanceOf(PermanentError);
    expect(classifyS3Error(s3Error('SlowDown', 503), 'upload')).to.be.instanceOf(RetryableError);
    expect(classifyS3Error(s3Error('InternalError', 500), 'upload')).to.be.instanceOf(RetryableError);
  });
});

import { PermanentError, type BatchExport, type DestinationWriter } from '@bx/core';
import { S3Destination } from '@bx/destination-s3';

/** The writer for an export's destination. */
export function destinationFor(exp: BatchExport): DestinationWriter {
  switch (exp.destination.type) {
    case 'S3':
      return new S3Destination(exp.destination.config);
    default:
      throw new PermanentError(`destination ${exp.destination.type} is not available in this worker`, {
        code: 'UnsupportedDestination',
      });
  }
}

import { PermanentError, type DestinationConfig, type DestinationWriter } from '@bx/core';
import { S3Destination } from '@bx/destination-s3';

/** The writer for a destination configuration: the one place that maps types to packages. */
export function destinationFor(destination: DestinationConfig): DestinationWriter {
  switch (destination.type) {
    case 'S3':
      return new S3Destination(destination.config);
    default:
      throw new PermanentError(`destination ${destination.type} is not available`, { code: 'UnsupportedDestination' });
  }
}

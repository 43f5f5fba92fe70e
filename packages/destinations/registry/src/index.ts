import { PermanentError, type DestinationConfig } from '@bx/core';
import type { DestinationWriter } from '@bx/batch';
import { S3Destination } from '@bx/destination-s3';
import { SnowflakeDestination } from '@bx/destination-snowflake';

/** The writer for a destination configuration: the one place that maps types to packages. */
export function destinationFor(destination: DestinationConfig): DestinationWriter {
  switch (destination.type) {
    case 'S3':
      return new S3Destination(destination.config);
    case 'Snowflake':
      return new SnowflakeDestination(destination.config);
    default:
      throw new PermanentError(`destination ${(destination as { type: string }).type} is not available`, {
        code: 'UnsupportedDestination',
      });
  }
}

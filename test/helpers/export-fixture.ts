import type { BatchExport } from '@bx/core';

/** A stored hourly S3 export as the store tests need it (never exported: the bucket is not real). */
export function exportFixture(id: string, createdAt: number, overrides: Partial<BatchExport> = {}): BatchExport {
  return {
    id,
    name: id,
    team_id: 1,
    interval: 'hour',
    timezone: 'UTC',
    model: 'events',
    include_events: [],
    exclude_events: [],
    paused: false,
    start_at: null,
    end_at: null,
    destination: {
      type: 'S3',
      config: {
        bucket_name: 'bucket',
        region: 'us-east-1',
        prefix: '',
        aws_access_key_id: 'a',
        aws_secret_access_key: 'b',
        file_format: 'JSONLines',
        compression: null,
      },
    },
    created_at: new Date(createdAt).toISOString(),
    updated_at: new Date(createdAt).toISOString(),
    ...overrides,
  };
}

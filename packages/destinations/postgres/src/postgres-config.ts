// The config schema lives in core's destination union until the destination
// registry builds that union from the plug-ins; then it moves here.
export { postgresConfigSchema, type PostgresConfig } from '@bx/core';

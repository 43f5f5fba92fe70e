import { exportInputSchemas } from '@bx/core';
import { DESTINATION_TYPES, destinationSchema } from '@bx/destinations';

/** The API's create and patch schemas, with every registered destination's config schema. */
export const { createExportSchema, patchExportSchema } = exportInputSchemas(destinationSchema, DESTINATION_TYPES);

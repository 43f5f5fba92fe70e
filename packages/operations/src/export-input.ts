import { exportInputSchemas } from '@bx/core';
import { DESTINATION_TYPES, destinationSchema } from '@bx/destinations';
import { MODEL_CHOICES } from '@bx/models';

/** The API's create and patch schemas, with every registered destination's config schema and every model. */
export const { createExportSchema, patchExportSchema } = exportInputSchemas(
  destinationSchema,
  DESTINATION_TYPES,
  MODEL_CHOICES,
);

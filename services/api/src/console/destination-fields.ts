import { DESTINATION_SECRET_FIELDS, destinationSchema } from '@bx/destinations';
import { createExportSchema } from '@bx/operations';
import { z } from 'zod';

/** One field of a destination's config, as the form shows it. */
export interface DestinationField {
  key: string;
  label: string;
  kind: 'text' | 'number' | 'select' | 'checkbox' | 'textarea' | 'password' | 'url';
  options?: string[];
  required: boolean;
  nullable: boolean;
  secret: boolean;
  default?: unknown;
  hint?: string;
}

type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
  format?: string;
};

/** Words a label spells differently from its key. */
const LABELS: Record<string, string> = {
  aws_access_key_id: 'AWS access key id',
  aws_secret_access_key: 'AWS secret access key',
  endpoint_url: 'Endpoint URL',
  access_url: 'Access URL',
  kms_key_id: 'KMS key id',
  max_file_size_mb: 'Max file size (MB)',
  ca_cert: 'CA certificate (PEM)',
  sslmode: 'SSL mode',
  private_key: 'Private key (PKCS#8 PEM)',
};

const HINTS: Record<string, string> = {
  prefix:
    'Key prefix template: {year} {month} {day} {hour} {minute} {second} {data_interval_start} {data_interval_end} {table}',
  compression: 'JSONLines: gzip, brotli, zstd; Parquet also snappy',
  max_file_size_mb: 'Split a run into files of about this size (1 to 64,000 MB); empty for one file per interval',
  endpoint_url: 'For S3-compatible stores (MinIO, R2); empty for AWS',
};

const MULTILINE = new Set(['private_key', 'ca_cert']);

const destinationJson = z.toJSONSchema(destinationSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
const exportJson = z.toJSONSchema(createExportSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;

/**
 * The destination types and their fields, read from the schema the API
 * validates with: a destination added to it gets its form without a change
 * here, and the form cannot drift from the checks.
 */
export function destinationTypes(): string[] {
  return (destinationJson.oneOf ?? destinationJson.anyOf ?? []).map((s) => String(s.properties?.type?.const));
}

export function destinationFields(type: string): DestinationField[] {
  const variant = (destinationJson.oneOf ?? destinationJson.anyOf ?? []).find(
    (s) => s.properties?.type?.const === type,
  );
  const config = variant?.properties?.config;
  if (!config?.properties) return [];
  const required = new Set(config.required ?? []);
  return Object.entries(config.properties).map(([key, schema]) => {
    const nonNull = (schema.anyOf ?? [schema]).filter((s) => s.type !== 'null');
    const nullable = (schema.anyOf ?? []).some((s) => s.type === 'null') || [schema.type].flat().includes('null');
    const inner = nonNull[0] ?? schema;
    const types = [inner.type].flat();
    const secret = (DESTINATION_SECRET_FIELDS as readonly string[]).includes(key);
    const options = inner.enum as string[] | undefined;
    const kind: DestinationField['kind'] = secret
      ? MULTILINE.has(key)
        ? 'textarea'
        : 'password'
      : options
        ? 'select'
        : types.includes('number') || types.includes('integer')
          ? 'number'
          : types.includes('boolean')
            ? 'checkbox'
            : MULTILINE.has(key)
              ? 'textarea'
              : inner.format === 'uri'
                ? 'url'
                : 'text';
    return {
      key,
      label: LABELS[key] ?? humanise(key),
      kind,
      options,
      required: required.has(key) && schema.default === undefined,
      nullable,
      secret,
      default: schema.default,
      hint: HINTS[key],
    };
  });
}

/** The models an export may read (`events`, and more as the schema grows). */
export function modelNames(): string[] {
  const model = exportJson.properties?.model;
  if (!model) return ['events'];
  if (model.enum) return model.enum.map(String);
  if (model.const !== undefined) return [String(model.const)];
  return (model.anyOf ?? []).flatMap((s) => (s.const !== undefined ? [String(s.const)] : (s.enum ?? []).map(String)));
}

function humanise(key: string): string {
  const text = key.replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

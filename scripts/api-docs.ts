/**
 * docs/api.md, the API reference, rendered from the OpenAPI document the API
 * serves (`npm run docs:api` writes it; test/unit/api-docs.test.ts fails when
 * the file is not what this renders, so the reference never drifts).
 */
import { openApiDocument } from '@bx/api';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON Schema of any shape, read only
type Schema = Record<string, any>;
const METHODS = ['get', 'post', 'patch', 'put', 'delete'];

/** A schema as a short type: `string`, `integer | null`, `Export[]`, `"hour" | "day"`. */
function typeOf(s: Schema | undefined): string {
  if (!s) return 'any';
  if (s.$ref) return `[${s.$ref.split('/').pop()}](#${String(s.$ref.split('/').pop()).toLowerCase()})`;
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v: unknown) => JSON.stringify(v)).join(' \\| ');
  const union = s.anyOf ?? s.oneOf;
  if (union) return union.map(typeOf).join(' \\| ');
  if (Array.isArray(s.type)) return s.type.join(' \\| ');
  if (s.type === 'array') return `${typeOf(s.items)}[]`;
  if (s.type === 'string' && s.format) return `string (${s.format})`;
  return s.type ?? 'any';
}

const cell = (text: unknown) =>
  String(text ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');

function properties(s: Schema): string[] {
  if (!s.properties) return [];
  const required = new Set<string>(s.required ?? []);
  return [
    '| field | type | required | notes |',
    '|---|---|---|---|',
    ...Object.entries(s.properties as Record<string, Schema>).map(
      ([name, p]) =>
        `| \`${name}\` | ${typeOf(p)} | ${required.has(name) ? 'yes' : ''} | ${cell(
          [p.description, p.default !== undefined ? `default ${JSON.stringify(p.default)}` : '']
            .filter(Boolean)
            .join('; '),
        )} |`,
    ),
  ];
}

function operation(path: string, method: string, op: Schema, shared: Schema[]): string[] {
  const out = [`### ${method.toUpperCase()} \`${path}\``, '', `\`${op.operationId}\`: ${op.summary}`, ''];
  if (op.description) out.push(op.description, '');
  if (Array.isArray(op.security) && op.security.length === 0) out.push('No token.', '');
  const params = [...shared, ...(op.parameters ?? [])] as Schema[];
  if (params.length) {
    out.push('| parameter | in | type | notes |', '|---|---|---|---|');
    for (const p of params) out.push(`| \`${p.name}\` | ${p.in} | ${typeOf(p.schema)} | ${cell(p.description)} |`);
    out.push('');
  }
  for (const [type, media] of Object.entries((op.requestBody?.content ?? {}) as Record<string, Schema>)) {
    out.push(`Body (${type}${op.requestBody.required ? '' : ', optional'}): ${typeOf(media.schema)}`, '');
  }
  out.push('| answer | body | meaning |', '|---|---|---|');
  for (const [status, res] of Object.entries(op.responses as Record<string, Schema>)) {
    const body = Object.entries((res.content ?? {}) as Record<string, Schema>)
      .map(([type, media]) => (type === 'application/json' ? typeOf(media.schema) : type))
      .join(', ');
    out.push(`| ${status} | ${body} | ${cell(res.description)} |`);
  }
  return [...out, ''];
}

/** The reference as Markdown. */
export function renderApiDocs(doc: Schema = openApiDocument): string {
  const out = [
    `# ${doc.info.title} (${doc.info.version})`,
    '',
    '<!-- Generated from services/api/src/openapi by `npm run docs:api`; do not edit. -->',
    '',
    doc.info.description,
    '',
    'Every operation under `/api` needs `Authorization: Bearer $ADMIN_API_TOKEN`. The document itself is',
    'served at `/api/openapi.json`; the README shows how to generate a TypeScript client from it.',
    '',
    '## Operations',
    '',
  ];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Schema>)) {
    for (const method of METHODS)
      if (item[method]) out.push(...operation(path, method, item[method], item.parameters ?? []));
  }
  out.push('## Schemas', '');
  for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, Schema>)) {
    out.push(`### ${name}`, '');
    if (schema.description) out.push(schema.description, '');
    const variants = schema.oneOf ?? schema.anyOf;
    if (variants && !schema.properties) out.push(`One of: ${variants.map(typeOf).join(', ')}`, '');
    else if (!schema.properties) out.push(`${typeOf(schema)}`, '');
    out.push(...properties(schema), '');
  }
  return (
    out
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd() + '\n'
  );
}

export const API_DOCS_PATH = join(__dirname, '..', 'docs', 'api.md');

if (require.main === module) {
  writeFileSync(API_DOCS_PATH, renderApiDocs());
  console.log(`wrote ${API_DOCS_PATH}`);
}

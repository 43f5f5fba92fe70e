import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { HttpResult } from './api-harness';

type Doc = {
  paths: Record<string, Record<string, any>>;
  components: { schemas: Record<string, unknown> };
};

/**
 * Checks HTTP responses against an OpenAPI 3.1 document with ajv (JSON Schema
 * 2020-12): the status must be documented for the operation, the content type
 * must be one it lists, and a JSON body must match its schema. Remembers which
 * operations were seen, for coverage.
 */
export class OpenApiValidator {
  readonly seen = new Set<string>();
  private readonly ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  private readonly compiled = new Map<unknown, ValidateFunction>();

  constructor(private readonly doc: Doc) {
    addFormats(this.ajv);
    // The document's refs point at #/components/schemas; ajv knows them as one schema's $defs.
    this.ajv.addSchema({ $id: 'components', $defs: this.rewrite(doc.components.schemas) });
    for (const name of Object.keys(doc.components.schemas)) this.ajv.getSchema(`components#/$defs/${name}`);
  }

  operation(method: string, template: string): any {
    const op = this.doc.paths[template]?.[method.toLowerCase()];
    if (!op) throw new Error(`${method} ${template} is not in the OpenAPI document`);
    return op;
  }

  /** Throws with the ajv errors if `res` does not match the document. */
  checkResponse(method: string, template: string, res: HttpResult): void {
    const where = `${method} ${template} → ${res.status}`;
    const spec = this.operation(method, template).responses[String(res.status)];
    if (!spec) throw new Error(`${where}: status not documented; body ${res.text.slice(0, 300)}`);
    this.seen.add(`${method.toUpperCase()} ${template}`);
    const media = Object.keys(spec.content ?? {});
    if (media.length === 0) {
      if (res.text !== '' && res.status !== 303) throw new Error(`${where}: documented without a body`);
      return;
    }
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    if (!media.includes(type)) throw new Error(`${where}: content type ${type}, documented ${media.join(', ')}`);
    if (type === 'application/json') this.check(spec.content[type].schema, res.json, where);
  }

  /** Throws if a request body the test sends is not valid under the documented request schema. */
  checkRequest(method: string, template: string, body: unknown): void {
    const schema = this.operation(method, template).requestBody?.content?.['application/json']?.schema;
    if (!schema) throw new Error(`${method} ${template}: no JSON request body documented`);
    this.check(schema, body, `${method} ${template} request`);
  }

  private check(schema: unknown, value: unknown, where: string): void {
    let validate = this.compiled.get(schema);
    if (!validate) {
      validate = this.ajv.compile(this.rewrite(schema) as object);
      this.compiled.set(schema, validate);
    }
    if (!validate(value)) {
      throw new Error(`${where}: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 1500)}`);
    }
  }

  private rewrite(schema: unknown): unknown {
    return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"components#/$defs/'));
  }
}

import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { openApiDocument } from '@bx/api';
import { API_DOCS_PATH, renderApiDocs } from '../../scripts/api-docs';

describe('docs/api.md', () => {
  it('is the API reference rendered from the OpenAPI document (npm run docs:api rewrites it)', () => {
    expect(readFileSync(API_DOCS_PATH, 'utf8')).to.equal(renderApiDocs());
  });

  it('names every operation of the document, with its operationId', () => {
    const sut = readFileSync(API_DOCS_PATH, 'utf8');
    for (const [path, item] of Object.entries(openApiDocument.paths)) {
      for (const [method, op] of Object.entries(item).filter(([k]) => k !== 'parameters')) {
        expect(sut).to.contain(`### ${method.toUpperCase()} \`${path}\``);
        expect(sut).to.contain(`\`${(op as { operationId: string }).operationId}\`:`);
      }
    }
  });
});

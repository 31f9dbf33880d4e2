import { readFileSync } from 'node:fs';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { updateReadme, renderSchemaDocs } = require('../../scripts/gen-docs.js') as {
  updateReadme(readme: string): string;
  renderSchemaDocs(): string;
};

const root = path.join(__dirname, '../..');

describe('README schema sections', () => {
  it('match schemas/ (run `make docs` when this fails)', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(updateReadme(readme)).toBe(readme);
  });

  it('list every property with its required flag', () => {
    const docs = renderSchemaDocs();
    expect(docs).toContain('|password|string|yes|OCI repository password|');
    expect(docs).toContain('|repository|string|yes|OCI repository uri and path|');
    expect(docs).toContain('|prefix|string|no|OCI images name prefix (default chainloop)|');
  });

  it('embed each schema file verbatim', () => {
    const docs = renderSchemaDocs();
    for (const f of ['registration', 'attachment']) {
      expect(docs).toContain(readFileSync(path.join(root, `schemas/${f}.schema.json`), 'utf8').trimEnd());
    }
  });
});

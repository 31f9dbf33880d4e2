#!/usr/bin/env node
// Renders the README's "Registration Input Schema" / "Attachment Input Schema"
// sections from schemas/*.json, between the GENERATED markers.
//   node scripts/gen-docs.js           rewrite README.md
//   node scripts/gen-docs.js --check   exit 1 when README.md is stale
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const BEGIN = '<!-- BEGIN GENERATED: schemas (make docs) -->';
const END = '<!-- END GENERATED: schemas -->';

function schemaSection(title, file) {
  const text = readFileSync(path.join(root, file), 'utf8');
  const schema = JSON.parse(text);
  const required = new Set(schema.required || []);
  const rows = Object.keys(schema.properties || {})
    .sort()
    .map((name) => {
      const p = schema.properties[name];
      const cell = (s) => String(s).replace(/\|/g, '\\|');
      return `|${name}|${cell(p.type)}|${required.has(name) ? 'yes' : 'no'}|${cell(p.description || '')}|`;
    });
  return [
    `## ${title}`,
    '',
    `From \`${file}\`, served byte for byte by Describe.`,
    '',
    '|Field|Type|Required|Description|',
    '|---|---|---|---|',
    ...rows,
    '',
    '```json',
    text.trimEnd(),
    '```',
  ].join('\n');
}

function renderSchemaDocs() {
  return [
    BEGIN,
    schemaSection('Registration Input Schema', 'schemas/registration.schema.json'),
    '',
    schemaSection('Attachment Input Schema', 'schemas/attachment.schema.json'),
    END,
  ].join('\n');
}

/** README text with the generated block replaced; throws when the markers are missing. */
function updateReadme(readme) {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the markers ${BEGIN} ... ${END}`);
  return readme.slice(0, start) + renderSchemaDocs() + readme.slice(end + END.length);
}

module.exports = { renderSchemaDocs, updateReadme };

if (require.main === module) {
  const file = path.join(root, 'README.md');
  const current = readFileSync(file, 'utf8');
  const next = updateReadme(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      console.error('README.md schema sections are stale: run `make docs` and commit the result');
      process.exit(1);
    }
  } else if (next !== current) {
    writeFileSync(file, next);
  }
}

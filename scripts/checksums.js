#!/usr/bin/env node
// Writes dist/SHA256SUMS (the `sha256sum -c` format) for everything users download from dist/.
'use strict';
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { ARCHES, NAME, ROOT, packageJson } = require('./sea-common');

const dist = path.join(ROOT, 'dist');
const version = packageJson().version;
const files = [
  `${NAME}.js`,
  ...Object.values(ARCHES).flatMap(({ debian }) => [`linux-${debian}/${NAME}`, `${NAME}-${version}-linux-${debian}.tar.gz`]),
];
const lines = files.map((name) => {
  const file = path.join(dist, name);
  if (!fs.existsSync(file)) {
    process.stderr.write(`checksums: dist/${name} is missing; run make dist\n`);
    process.exit(1);
  }
  return `${createHash('sha256').update(fs.readFileSync(file)).digest('hex')}  ${name}\n`;
});
fs.writeFileSync(path.join(dist, 'SHA256SUMS'), lines.join(''));

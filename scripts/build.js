#!/usr/bin/env node
// Bundles src/main.ts into ONE executable CommonJS file with a node shebang:
// the host runs it directly and signals/waits on that very pid, and nothing
// in it reads files from the package folder at run time.
'use strict';
const esbuild = require('esbuild');
const { chmodSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outfile = path.join(root, 'dist/chainloop-plugin-oci-registry.js');
// `node scripts/build.js --readable`: unminified, with esbuild's `// src/...` section
// comments, so bench/profile-run.ts can attribute CPU time to modules.
const readable = process.argv.includes('--readable');

esbuild
  .build({
    entryPoints: [path.join(root, 'src/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Minified (names kept for error names in logs): V8 reads and compiles it faster at every launch.
    minify: !readable,
    keepNames: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    banner: { js: '#!/usr/bin/env node' },
  })
  .then(() => chmodSync(outfile, 0o755))
  .catch(() => process.exit(1));

#!/usr/bin/env node
// Runs a TypeScript entry point (bench/, scripts/): esbuild bundles it into
// .tmp/ and node runs the result with the remaining arguments.
//   node scripts/run-ts.js bench/run.ts --smoke
'use strict';
const esbuild = require('esbuild');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.js <file.ts> [args...]');
  process.exit(2);
}
const root = path.resolve(__dirname, '..');
const outfile = path.join(root, '.tmp/run-ts', `${path.basename(entry, '.ts')}.js`);
esbuild.buildSync({
  entryPoints: [path.resolve(entry)],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'inline',
  logLevel: 'warning',
  packages: 'external',
});
const nodeArgs = (process.env.RUN_TS_NODE_ARGS || '').split(' ').filter(Boolean);
const res = spawnSync(process.execPath, ['--enable-source-maps', ...nodeArgs, outfile, ...args], { stdio: 'inherit' });
process.exit(res.status ?? 1);

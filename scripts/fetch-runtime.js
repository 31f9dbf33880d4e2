#!/usr/bin/env node
// `node scripts/fetch-runtime.js x64|arm64`: downloads the pinned Node.js
// runtime (npm package node-linux-<arch>, version and integrity from
// package.json "seaRuntime"), verifies it, and writes a stripped copy of its
// `node` binary to .tmp/runtime/<version>/<arch>/node. Prints that path.
// npm pack is used rather than a dependency: npm refuses to install a package
// whose "cpu" is not the machine's, and its `bin/node` would shadow `node`.
'use strict';
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { ARCHES, ROOT, nodeArch, runtimePin } = require('./sea-common');

function fetchRuntime(arch) {
  const { version, integrity } = runtimePin(arch);
  const dir = path.join(ROOT, '.tmp/runtime', version, arch);
  const node = path.join(dir, 'node');
  if (fs.existsSync(node)) return node;
  fs.mkdirSync(dir, { recursive: true });
  const spec = `node-linux-${arch}@${version}`;
  const out = execFileSync('npm', ['pack', spec, '--pack-destination', dir, '--json', '--loglevel=error'], {
    encoding: 'utf8',
  });
  const tarball = path.join(dir, JSON.parse(out)[0].filename);
  const [algorithm, expected] = integrity.split('-', 2);
  const actual = createHash(algorithm).update(fs.readFileSync(tarball)).digest('base64');
  if (actual !== expected) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${spec}: integrity mismatch (package.json pins ${integrity}, got ${algorithm}-${actual})`);
  }
  execFileSync('tar', ['-xzf', tarball, '-C', dir, '--strip-components=2', 'package/bin/node']);
  fs.rmSync(tarball);
  // The official binaries carry debug info: stripping takes ~10 MB off every copy users deploy.
  const tmp = `${node}.partial`;
  execFileSync(ARCHES[arch].strip, ['--strip-all', '-o', tmp, node]);
  fs.renameSync(tmp, node);
  return node;
}

if (require.main === module) {
  try {
    process.stdout.write(`${fetchRuntime(nodeArch(process.argv[2]))}\n`);
  } catch (error) {
    process.stderr.write(`fetch-runtime: ${error.message}\n`);
    process.exit(1);
  }
}

module.exports = { fetchRuntime };

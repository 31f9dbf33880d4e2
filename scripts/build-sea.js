#!/usr/bin/env node
// `node scripts/build-sea.js x64|arm64`: turns the JS bundle into a Node.js
// single executable application (SEA) for that architecture, with the pinned
// runtime: dist/linux-<debian arch>/chainloop-plugin-oci-registry (the Makefile
// links the build machine's own to dist/chainloop-plugin-oci-registry).
//
// The SEA blob and the V8 code cache of the bundle (see scripts/sea/loader.js)
// must come from the very runtime they are injected into, so a foreign
// architecture's runtime runs under qemu user emulation to write them.
'use strict';
const { execFileSync } = require('node:child_process');
const esbuild = require('esbuild');
const fs = require('node:fs');
const path = require('node:path');
const { NAME, ROOT, nodeArch, runnerFor, seaPath } = require('./sea-common');
const { fetchRuntime } = require('./fetch-runtime');

// Node's documented fuse for SEAs; postject flips it so the runtime looks for the blob.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const BUNDLE = path.join(ROOT, 'dist', `${NAME}.js`);
const TRAINING_TIMEOUT_MS = 120_000;

function buildSea(arch) {
  const runtime = fetchRuntime(arch);
  const work = path.join(ROOT, '.tmp/sea', arch);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });

  // Our own function wrapper goes around it (a shebang there would be a syntax error).
  const main = path.join(work, 'main.js');
  fs.writeFileSync(main, fs.readFileSync(BUNDLE, 'utf8').replace(/^#![^\n]*\n/, ''));
  const [emulator, ...rest] = [...runnerFor(arch), runtime];
  const cache = path.join(work, 'main.cache');
  // Bounded: a start-up that never reaches its handshake must fail the build, not hang it (qemu is slow).
  quietly(emulator, [...rest, path.join(__dirname, 'sea/train-code-cache.js'), main, cache], { cwd: work, timeout: TRAINING_TIMEOUT_MS });

  // The SEA's main script is the loader, bundled alone: a SEA's require() knows only node: modules.
  const loader = path.join(work, 'loader.js');
  esbuild.buildSync({ entryPoints: [path.join(__dirname, 'sea/loader.js')], outfile: loader, bundle: true, platform: 'node', format: 'cjs', logLevel: 'warning' });
  const blob = path.join(work, 'sea.blob');
  const config = path.join(work, 'sea-config.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      main: loader,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
      assets: { 'main.js': main, 'main.cache': cache },
    }),
  );
  quietly(emulator, [...rest, '--experimental-sea-config', config], { cwd: work });

  const out = seaPath(arch);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const partial = `${out}.partial`;
  fs.copyFileSync(runtime, partial);
  quietly(process.execPath, [require.resolve('postject/dist/cli.js'), partial, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
  fs.chmodSync(partial, 0o755);
  fs.renameSync(partial, out);
  return out;
}

/** Runs a tool and shows its output only when it fails (postject warns about every note section of a stripped ELF). */
function quietly(file, args, options = {}) {
  try {
    execFileSync(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (error) {
    const limit = options.timeout ? ` (time limit ${options.timeout} ms)` : '';
    const why = error.signal ? `was stopped by ${error.signal}${limit}` : 'failed';
    throw new Error(`${path.basename(file)} ${why}: ${error.stderr || error.stdout || error.message}`);
  }
}

if (require.main === module) {
  try {
    process.stdout.write(`${buildSea(nodeArch(process.argv[2]))}\n`);
  } catch (error) {
    process.stderr.write(`build-sea: ${error.message}\n`);
    process.exit(1);
  }
}

module.exports = { buildSea };

#!/usr/bin/env node
// `node scripts/build-overlay.js x64|arm64`: the image overlay for one
// architecture, dist/chainloop-plugin-oci-registry-<version>-linux-<arch>.tar.gz.
// Extracted at `/` of a FROM-scratch image (Chainloop's control plane), it adds
// plugins/chainloop-plugin-oci-registry and exactly the shared libraries that
// executable loads, at their standard paths, taken from Debian's packages of
// that architecture. Nothing else: the image brings its own CA bundle and /tmp.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ARCHES, NAME, ROOT, nodeArch, packageJson, seaPath } = require('./sea-common');

const MAX_TARBALL_BYTES = 45 * 1024 * 1024;

function readelf(args, file) {
  return execFileSync('readelf', [...args, file], { encoding: 'utf8' });
}

/** PT_INTERP of an ELF executable, e.g. /lib64/ld-linux-x86-64.so.2. */
function interpreterOf(file) {
  const m = /Requesting program interpreter: ([^\]]+)\]/.exec(readelf(['-lW'], file));
  if (!m) throw new Error(`${file} names no program interpreter`);
  return m[1];
}

function neededOf(file) {
  return [...readelf(['-dW'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}

/** The Debian package that owns a library, checked to be of the wanted architecture. */
function owningPackage(candidates, debianArch) {
  for (const file of candidates) {
    try {
      const owner = execFileSync('dpkg-query', ['-S', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const pkg = owner.split(':', 2).join(':');
      if (!pkg.endsWith(`:${debianArch}`)) throw new Error(`${file} belongs to ${pkg}, not to an ${debianArch} package`);
      return pkg;
    } catch (error) {
      if (error.message.includes('belongs to')) throw error;
    }
  }
  throw new Error(`no Debian package owns ${candidates[0]}`);
}

/** soname → host file, for the executable's whole NEEDED closure (the loader included). */
function libraryClosure(executable, arch) {
  const { triplet, debian } = ARCHES[arch];
  const found = new Map();
  const queue = neededOf(executable);
  while (queue.length > 0) {
    const soname = queue.shift();
    if (found.has(soname)) continue;
    const candidates = [`/lib/${triplet}/${soname}`, `/usr/lib/${triplet}/${soname}`];
    const file = candidates.find((f) => fs.existsSync(f));
    if (!file) throw new Error(`${soname} (${arch}) is not installed; run: apt-get install libc6:${debian} libstdc++6:${debian} libgcc-s1:${debian}`);
    found.set(soname, { file, pkg: owningPackage(candidates, debian) });
    queue.push(...neededOf(file));
  }
  return found;
}

function stage(arch) {
  const { triplet, debian } = ARCHES[arch];
  const executable = seaPath(arch);
  const root = path.join(ROOT, '.tmp/overlay', debian);
  fs.rmSync(root, { recursive: true, force: true });
  const put = (rel, from, mode) => {
    const to = path.join(root, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(fs.realpathSync(from), to);
    fs.chmodSync(to, mode);
  };
  put(`plugins/${NAME}`, executable, 0o755);
  const interpreter = interpreterOf(executable);
  const libs = libraryClosure(executable, arch);
  const loaderName = path.basename(interpreter);
  // libc needs the loader too, so the closure has already checked which package it comes from.
  if (!libs.has(loaderName)) throw new Error(`${loaderName} is not in the library closure of ${executable}`);
  put(interpreter.slice(1), interpreter, 0o755);
  for (const [soname, { file }] of libs) {
    if (soname !== loaderName) put(`lib/${triplet}/${soname}`, file, 0o755);
  }
  return { root, libs: [...libs].map(([soname, { pkg }]) => `${soname} (${pkg})`) };
}

function pack(arch) {
  const { debian } = ARCHES[arch];
  const { root, libs } = stage(arch);
  const out = path.join(ROOT, 'dist', `${NAME}-${packageJson().version}-linux-${debian}.tar.gz`);
  const entries = fs.readdirSync(root).sort();
  // Same bytes for the same inputs: fixed owner, order and time, and no name or time in the gzip header.
  const mtime = process.env.SOURCE_DATE_EPOCH ?? execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const tar = execFileSync(
    'tar',
    ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${mtime}`, '--format=gnu', '-C', root, '-cf', '-', ...entries],
    { maxBuffer: 1 << 30 },
  );
  const gz = execFileSync('gzip', ['-9n'], { input: tar, maxBuffer: 1 << 30 });
  if (gz.length > MAX_TARBALL_BYTES) {
    throw new Error(`${path.basename(out)} is ${gz.length} bytes, over the ${MAX_TARBALL_BYTES}-byte limit`);
  }
  fs.writeFileSync(out, gz);
  return { out, bytes: gz.length, libs };
}

if (require.main === module) {
  try {
    const { out, bytes, libs } = pack(nodeArch(process.argv[2]));
    process.stderr.write(`build-overlay: ${path.relative(ROOT, out)}: ${(bytes / 1048576).toFixed(1)} MiB; libraries: ${libs.join(', ')}\n`);
  } catch (error) {
    process.stderr.write(`build-overlay: ${error.message}\n`);
    process.exit(1);
  }
}

module.exports = { pack, interpreterOf, libraryClosure };

// What the packaging scripts share: the architectures, their tools, and the runtime pin.
'use strict';
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const NAME = 'chainloop-plugin-oci-registry';

/** Node's arch names → Debian's, the GNU triplet, and the tools that handle that ELF. */
const ARCHES = {
  x64: { debian: 'amd64', triplet: 'x86_64-linux-gnu', strip: 'strip', emulator: 'qemu-x86_64-static' },
  arm64: { debian: 'arm64', triplet: 'aarch64-linux-gnu', strip: 'aarch64-linux-gnu-strip', emulator: 'qemu-aarch64-static' },
};

function packageJson() {
  return require(path.join(ROOT, 'package.json'));
}

/** Accepts Node's name (x64) or Debian's (amd64). */
function nodeArch(name) {
  const arch = Object.keys(ARCHES).find((a) => a === name || ARCHES[a].debian === name);
  if (!arch) throw new Error(`unknown architecture ${JSON.stringify(name)}; use one of x64 (amd64), arm64`);
  return arch;
}

function runtimePin(arch) {
  if (!ARCHES[arch]) throw new Error(`unknown architecture ${JSON.stringify(arch)}; use one of ${Object.keys(ARCHES).join(', ')}`);
  const pin = packageJson().seaRuntime;
  const integrity = pin?.integrity?.[arch];
  if (!pin?.version || !integrity) throw new Error(`package.json "seaRuntime" pins no ${arch} runtime`);
  return { version: pin.version, integrity };
}

/** The SEA for one architecture; dist/NAME itself is the build machine's. */
function seaPath(arch) {
  return path.join(ROOT, 'dist', `linux-${ARCHES[arch].debian}`, NAME);
}

/** How to run a binary of that architecture here: directly, or under qemu user emulation. */
function runnerFor(arch) {
  return arch === process.arch ? [] : [ARCHES[arch].emulator];
}

module.exports = { ARCHES, NAME, ROOT, nodeArch, packageJson, runtimePin, runnerFor, seaPath };

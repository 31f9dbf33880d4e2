// `<pinned runtime> train-code-cache.js BUNDLE OUT`: starts the plugin from
// the bundle the way the control plane does (cookie, AutoMTLS client
// certificate, a socket directory), stops it with SIGTERM once its handshake
// line is out, and writes V8's code cache of everything compiled by then.
// Run by the very runtime the cache is for (under qemu for another arch).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { rootCertificates } = require('node:tls');
const { Script } = require('node:vm');
const { wrap, FILENAME } = require('./wrapper');

const [bundle, out] = process.argv.slice(2);
const script = new Script(wrap(fs.readFileSync(bundle, 'utf8')), { filename: FILENAME });
const socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sea-train-'));

Object.assign(process.env, {
  CHAINLOOP_PLUGIN: 'e575e823-335c-4e3b-8bfd-acceef0ae074',
  PLUGIN_PROTOCOL_VERSIONS: '0',
  PLUGIN_UNIX_SOCKET_DIR: socketDir,
  // Any CA certificate will do: no host connects during training.
  PLUGIN_CLIENT_CERT: rootCertificates[0],
});
process.argv = [process.execPath, process.execPath];

const exit = process.exit.bind(process);
process.exit = (code) => {
  fs.writeFileSync(out, script.createCachedData());
  fs.rmSync(socketDir, { recursive: true, force: true });
  exit(code === 0 ? 0 : 1);
};
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  if (String(chunk).includes('|grpc|')) setImmediate(() => process.kill(process.pid, 'SIGTERM'));
  return write(chunk, ...rest);
};
const mainModule = { exports: {} };
script.runInThisContext()(mainModule.exports, require, mainModule, process.execPath, '/');

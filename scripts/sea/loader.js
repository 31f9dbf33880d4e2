// The single executable's entry point. Node's SEA code cache (`useCodeCache`)
// holds only what V8 compiles before running a script, which for a bundle is
// little more than its top level: each bundled module's body is compiled
// lazily, at start-up, on every launch. So the bundle is embedded as an asset
// with a V8 code cache made after a real start-up (scripts/sea/train-code-cache.js),
// and compiled here against it. A cache V8 rejects (NODE_OPTIONS with other V8
// flags, say) costs only the compile time it would have saved.
'use strict';
const { getAsset } = require('node:sea');
const { Script } = require('node:vm');
const { wrap, FILENAME } = require('./wrapper');

const script = new Script(wrap(getAsset('main.js', 'utf8')), {
  filename: FILENAME,
  cachedData: Buffer.from(getAsset('main.cache')),
});
script.runInThisContext()(module.exports, require, module, process.execPath, '/');

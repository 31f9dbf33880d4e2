// The CommonJS function wrapper around the bundle, identical at training and
// at run time: V8 accepts a code cache only for the very same source text.
'use strict';
const FILENAME = 'chainloop-plugin-oci-registry.js';
const wrap = (source) => `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
module.exports = { FILENAME, wrap };

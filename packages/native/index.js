'use strict';
// The addon built by `node-gyp rebuild` at install (see binding.gyp).
module.exports = require('./build/Release/bx_native.node');

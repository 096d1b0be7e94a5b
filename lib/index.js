'use strict';

// The package's entry point: everything the addon exports (runBackendScript, renderPage, …) and
// the Express middleware.

const native = require('../index.js');
const { backendScripts } = require('./middleware.js');

module.exports = { ...native, backendScripts };

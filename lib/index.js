'use strict';

// The package's entry point: the addon's functions, the Express middleware and ScriptError.
// Each export is assigned on its own so that Node's ESM loader sees every name
// (`import { runBackendScript } from 'backend-scripts'`).

const native = require('./binding.js');
const host = require('./host.js');
const { backendScripts } = require('./middleware.js');
const { ScriptError, SCRIPT_ERROR_CODES } = require('./errors.js');

exports.runBackendScript = host.runBackendScript;
exports.renderPage = host.renderPage;
exports.renderTemplate = native.renderTemplate;
exports.checkPage = native.checkPage;
exports.createModules = native.createModules;
exports.Modules = native.Modules;
exports.configure = native.configure;
exports.executorStats = native.executorStats;
exports.startEgressProxy = native.startEgressProxy;
exports.EgressProxy = native.EgressProxy;
exports.backendScripts = backendScripts;
exports.ScriptError = ScriptError;
exports.SCRIPT_ERROR_CODES = SCRIPT_ERROR_CODES;

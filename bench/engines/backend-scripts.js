'use strict';

// Ours: runBackendScript, one fresh QuickJS sandbox per execution on the addon's own threads.
const path = require('node:path');
const LIMITS = require('./limits');

const PACKAGE_ROOT = path.join(__dirname, '..', '..');

function load() {
  const addon = require(PACKAGE_ROOT);
  return {
    name: 'backend-scripts',
    addon,
    /** @param {{ source: string, context: object, proxy?: object, functions?: object }} job */
    async run({ source, context, proxy = null, functions = null }) {
      const r = await addon.runBackendScript(source, context, proxy, functions ? { ...LIMITS, functions } : LIMITS);
      return { action: r.action, status: r.status, location: r.location, variables: r.variables, session: r.session };
    },
  };
}

module.exports = { load, PACKAGE_ROOT };

'use strict';

// node:vm: a new V8 context per execution in Node's own isolate, with a timeout. A reference
// point, not a sandbox: it has no memory limit and Node's documentation says it is not a
// security mechanism.
const vm = require('node:vm');
const LIMITS = require('./limits');
const { PEER_PRELUDE } = require('./peer-prelude');

function load() {
  const prelude = new vm.Script(PEER_PRELUDE, { filename: 'prelude.js' });
  const output = new vm.Script('__output()');
  return {
    name: 'node:vm',
    async run({ source, context, slow }) {
      const sandbox = { __input: JSON.stringify(context) };
      if (slow) sandbox.__slow = slow;
      const ctx = vm.createContext(sandbox);
      prelude.runInContext(ctx);
      let failure;
      try {
        const value = new vm.Script(source, { filename: 'page.js' }).runInContext(ctx, { timeout: LIMITS.cpuTimeMs });
        if (slow) await value;
      } catch (error) {
        failure = error;
      }
      const out = JSON.parse(output.runInContext(ctx));
      if (failure && !out.ended) throw failure;
      return out;
    },
  };
}

module.exports = { load };

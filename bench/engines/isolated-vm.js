'use strict';

// isolated-vm 5: V8 isolates. Two ways a sandbox would use it: a new isolate per execution, or
// one shared isolate with a new context per execution. Both with a memory limit and a timeout.
// Synchronous calls where the script is synchronous (its fastest path, though it blocks Node's
// event loop); asynchronous ones for the io workload.
const LIMITS = require('./limits');
const { PEER_PRELUDE } = require('./peer-prelude');

const MEMORY_LIMIT_MB = LIMITS.memoryLimitBytes >> 20;
// Turns the host's `Reference` into a function returning a promise, before the prelude runs.
const SLOW_ADAPTER = `globalThis.__slow = (ms) => __slowRef.apply(undefined, [ms], { result: { promise: true } });`;

/** @param {'new-isolate' | 'shared-isolate'} mode */
function load(mode) {
  const ivm = require('isolated-vm');
  const shared = mode === 'shared-isolate' ? new ivm.Isolate({ memoryLimit: MEMORY_LIMIT_MB }) : null;
  // In a shared isolate, compiled host scripts are reused across contexts, as a host would.
  const sharedScripts = shared && {
    prelude: shared.compileScriptSync(PEER_PRELUDE, { filename: 'prelude.js' }),
    adapter: shared.compileScriptSync(SLOW_ADAPTER),
  };
  return {
    name: `isolated-vm (${mode})`,
    async run({ source, context, slow }) {
      const isolate = shared ?? new ivm.Isolate({ memoryLimit: MEMORY_LIMIT_MB });
      const ctx = isolate.createContextSync();
      const scripts = sharedScripts ?? {
        prelude: isolate.compileScriptSync(PEER_PRELUDE, { filename: 'prelude.js' }),
        adapter: slow && isolate.compileScriptSync(SLOW_ADAPTER),
      };
      try {
        ctx.global.setSync('__input', JSON.stringify(context));
        if (slow) {
          ctx.global.setSync('__slowRef', new ivm.Reference(slow));
          scripts.adapter.runSync(ctx);
        }
        scripts.prelude.runSync(ctx);
        const script = isolate.compileScriptSync(source, { filename: 'page.js' });
        let failure;
        try {
          if (slow) await script.run(ctx, { timeout: LIMITS.cpuTimeMs, promise: true });
          else script.runSync(ctx, { timeout: LIMITS.cpuTimeMs });
        } catch (error) {
          failure = error;
        } finally {
          script.release();
        }
        const out = JSON.parse(ctx.evalSync('__output()'));
        if (failure && !out.ended) throw failure;
        return out;
      } finally {
        ctx.release();
        if (!shared) isolate.dispose();
      }
    },
  };
}

module.exports = { load };

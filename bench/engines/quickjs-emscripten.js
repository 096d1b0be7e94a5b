'use strict';

// quickjs-emscripten: QuickJS compiled to WebAssembly, run on Node's main thread. A new runtime
// and context per execution, with a memory limit, a stack limit and an interrupt handler.
const LIMITS = require('./limits');
const { PEER_PRELUDE } = require('./peer-prelude');

async function load() {
  const { getQuickJS, shouldInterruptAfterDeadline } = require('quickjs-emscripten');
  const QuickJS = await getQuickJS();
  return {
    name: 'quickjs-emscripten',
    async run({ source, context, slow }) {
      const runtime = QuickJS.newRuntime();
      runtime.setMemoryLimit(LIMITS.memoryLimitBytes);
      runtime.setMaxStackSize(LIMITS.maxStackBytes);
      runtime.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + LIMITS.cpuTimeMs));
      const vm = runtime.newContext();
      try {
        vm.newString(JSON.stringify(context)).consume((s) => vm.setProp(vm.global, '__input', s));
        if (slow) {
          vm.newFunction('__slow', (ms) => {
            const deferred = vm.newPromise();
            slow(vm.getNumber(ms)).then((json) => {
              vm.newString(json).consume((s) => deferred.resolve(s));
              runtime.executePendingJobs();
            });
            return deferred.handle;
          }).consume((f) => vm.setProp(vm.global, '__slow', f));
        }
        vm.unwrapResult(vm.evalCode(PEER_PRELUDE, 'prelude.js')).dispose();
        const ran = vm.evalCode(source, 'page.js');
        let failure;
        if (ran.error) {
          failure = vm.dump(ran.error);
          ran.error.dispose();
        } else if (slow) {
          const settled = vm.resolvePromise(ran.value);
          ran.value.dispose();
          runtime.executePendingJobs();
          const done = await settled;
          if (done.error) {
            failure = vm.dump(done.error);
            done.error.dispose();
          } else done.value.dispose();
        } else {
          ran.value.dispose();
        }
        const out = JSON.parse(vm.unwrapResult(vm.evalCode('__output()')).consume(vm.getString));
        if (failure && !out.ended) throw new Error(`script failed: ${JSON.stringify(failure)}`);
        return out;
      } finally {
        vm.dispose();
        runtime.dispose();
      }
    },
  };
}

module.exports = { load };

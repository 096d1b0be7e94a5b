'use strict';

// Small helpers shared by the runtime specs: run a script with small limits, catch its failure,
// time it, and check that the executor still works after something hostile.
const { runBackendScript } = require('../..');

/** Limits small enough to keep the suites fast. */
const SMALL = Object.freeze({ cpuTimeMs: 200, memoryLimitBytes: 8 << 20 });

/** Runs `source` without a proxy. */
function run(source, context = null, options = null) {
  return runBackendScript(source, context, null, options);
}

/** The error an execution rejected with; fails the test when it succeeded instead. */
async function failureOf(promise) {
  let result;
  try {
    result = await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`expected the execution to fail, but it resolved with ${JSON.stringify(result)}`);
}

/** Awaits `promise`, settled either way, and says how long that took in milliseconds. */
async function timed(promise) {
  const start = process.hrtime.bigint();
  const settled = await promise.then(
    (value) => ({ value }),
    (error) => ({ error }),
  );
  return { ...settled, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

/** Resolves when a fresh execution runs a script to its end with the right result. */
async function expectHealthy() {
  const result = await run('setVariable("sum", request.query.a + 1); console.log("ok")', { request: { query: { a: 41 } } });
  expect(result.variables).toEqual({ sum: 42 });
  expect(result.logs).toEqual([{ level: 'log', message: 'ok' }]);
}

module.exports = { SMALL, run, failureOf, timed, expectHealthy };

'use strict';

// Memory of backend-scripts, measured in a Node process of its own so that the peers' heaps and
// the other workloads' threads are not in its RSS. Run by run.js:
//   node --expose-gc bench/memory.js '{"measure":"soak"|"inflight","params":{…},"upstream":…,"proxy":{…}}'
// and prints its figures as one JSON line.

const { PACKAGE_ROOT } = require('./engines/backend-scripts');
const W = require('./workloads');
const M = require('./measure');

const addon = require(PACKAGE_ROOT);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `count` sequential backend executions, RSS sampled every 1,000 (after a collection). */
async function soak({ params }) {
  const count = params.soak;
  const samples = [];
  const start = M.now();
  for (let i = 0; i < count; i++) {
    const result = await addon.runBackendScript(W.BACKEND_SOURCE, W.backendContext(i), null, null);
    W.checkBackend(result, i);
    if ((i + 1) % 1000 === 0) {
      await M.settle(0);
      samples.push(Math.round(M.rssMiB() * 10) / 10);
    }
  }
  const first = samples[0];
  const last = samples[samples.length - 1];
  return {
    count,
    afterFirst1000MiB: first,
    endMiB: last,
    maxMiB: Math.max(...samples),
    growthMiB: last - first,
    perSec: (count / (M.now() - start)) * 1000,
    samples,
  };
}

/**
 * RSS per in-flight execution: `count` executions each waiting on one request that the upstream
 * holds for `inflight-ms`; RSS once all of them are waiting, against RSS before (after a few
 * executions have set up the executor and the HTTP client).
 */
async function inflight({ params, upstream, proxy }) {
  const count = params.inflight;
  const wait = params['inflight-ms'];
  const run = (ms) =>
    addon
      .runBackendScript(
        `const r = http.get(getVariable('upstream') + '/slow?ms=${ms}'); setVariable('status', r.status);`,
        { variables: { upstream } },
        proxy,
        null,
      )
      .then((r) => {
        if (r.variables.status !== 200) throw new Error(`an in-flight execution got ${JSON.stringify(r.variables)}`);
      });
  addon.configure({ maxInFlight: Math.max(1024, count), maxQueue: Math.max(1024, count) });
  await Promise.all(Array.from({ length: 4 }, () => run(0)));
  await M.settle(200);
  const before = M.rssMiB();
  const started = M.now();
  const pending = Array.from({ length: count }, () => run(wait));
  let peak = { inFlight: 0 };
  let all = false;
  while (M.now() - started < wait * 0.8) {
    await sleep(20);
    const stats = addon.executorStats();
    if (stats.inFlight >= peak.inFlight) peak = stats;
    if (stats.inFlight >= count && stats.running === 0 && stats.queued === 0) {
      all = true;
      await sleep(100); // the last ones reach their wait
      break;
    }
  }
  const during = M.rssMiB();
  const rampMs = M.now() - started;
  await Promise.all(pending);
  if (!all)
    throw new Error(
      `only ${peak.inFlight} of ${count} executions were in flight at once within ${Math.round(rampMs)} ms; raise --inflight-ms`,
    );
  return { count, beforeMiB: before, duringMiB: during, perExecutionMiB: (during - before) / count, rampMs, threads: peak.threads };
}

const args = JSON.parse(process.argv[2]);
const measure = { soak, inflight }[args.measure];
measure(args)
  .then((figures) => process.stdout.write(`${JSON.stringify(figures)}\n`))
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });

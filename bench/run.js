#!/usr/bin/env node
'use strict';

// The benchmark: backend-scripts against the sandboxes users would pick instead, every
// engine on this machine in this run, a fresh isolated environment per execution for each, every
// result checked; then end to end, Express with backendScripts() under autocannon (bench/e2e.js).
// Prints the tables (Markdown) and writes bench/results/latest.json.
//
//   node --no-node-snapshot --expose-gc bench/run.js [--smoke] [--rounds N] [--backend N] ...
//
// It restarts itself with those two flags when they are missing. Counts are parameters; see
// `--help`. It measures whichever addon `require('backend-scripts')` loads from the repository
// root (or NAPI_RS_NATIVE_LIBRARY_PATH): build it with `npm run build` (release) first.

const REQUIRED_FLAGS = ['--no-node-snapshot', '--expose-gc'];
if (!REQUIRED_FLAGS.every((flag) => process.execArgv.includes(flag))) {
  const { spawnSync } = require('node:child_process');
  const flags = [...new Set([...process.execArgv, ...REQUIRED_FLAGS])];
  const { status, signal } = spawnSync(process.execPath, [...flags, __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(signal ? 1 : status);
}

const fs = require('node:fs');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const W = require('./workloads');
const M = require('./measure');
const { machine, report } = require('./report');
const { endToEnd } = require('./e2e');

const FULL = {
  rounds: 5,
  backend: 2000,
  cpu: 100,
  io: 200,
  hostcall: 500,
  big: 5,
  soak: 100_000,
  inflight: 1000,
  'inflight-ms': 5000,
  throughput: 4000,
  window: 8,
  require: 10,
  e2e: 8,
  connections: 32,
};
const SMOKE = {
  rounds: 1,
  backend: 40,
  cpu: 3,
  io: 20,
  hostcall: 20,
  big: 1,
  soak: 2000,
  inflight: 50,
  'inflight-ms': 2000,
  throughput: 200,
  window: 8,
  require: 2,
  e2e: 1,
  connections: 4,
};
const HELP = `usage: node bench/run.js [--smoke] [--<count> N …] [--out FILE]
counts (full / --smoke): ${Object.keys(FULL)
  .map((k) => `--${k} ${FULL[k]}/${SMOKE[k]}`)
  .join(', ')}`;

function options() {
  const usage = (message) => {
    console.error(`${message}\n${HELP}`);
    process.exit(2);
  };
  const counts = Object.fromEntries(Object.keys(FULL).map((k) => [k, { type: 'string' }]));
  let values;
  try {
    ({ values } = parseArgs({ options: { ...counts, smoke: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean' } } }));
  } catch (error) {
    usage(error.message);
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const base = values.smoke ? SMOKE : FULL;
  const params = {};
  for (const k of Object.keys(FULL)) {
    const n = values[k] === undefined ? base[k] : Number(values[k]);
    if (!Number.isInteger(n) || n < 1) usage(`--${k} must be a positive integer, got ${values[k]}`);
    params[k] = n;
  }
  if (params.soak < 1000) usage('--soak must be at least 1000: RSS is compared with its level after the first 1,000');
  return { smoke: Boolean(values.smoke), params, out: values.out ?? path.join(__dirname, 'results', 'latest.json') };
}

/** The engines, each loaded or marked unavailable with the reason; never silently dropped. */
const ENGINES = [
  { id: 'ours', label: 'backend-scripts', load: () => require('./engines/backend-scripts').load() },
  { id: 'qjs', label: 'quickjs-emscripten', load: () => require('./engines/quickjs-emscripten').load() },
  { id: 'ivmNew', label: 'isolated-vm, new isolate', load: () => require('./engines/isolated-vm').load('new-isolate') },
  { id: 'ivmShared', label: 'isolated-vm, shared isolate', load: () => require('./engines/isolated-vm').load('shared-isolate') },
  { id: 'vm', label: 'node:vm (reference, not a sandbox)', load: () => require('./engines/node-vm').load() },
];

async function loadEngines() {
  const loaded = [];
  for (const spec of ENGINES) {
    try {
      loaded.push({ ...spec, engine: await spec.load() });
    } catch (error) {
      loaded.push({ ...spec, unavailable: `${error.code ?? ''} ${error.message.split('\n')[0]}`.trim() });
    }
  }
  return loaded;
}

/** Starts bench/servers.js and reads the upstream and proxy it started. */
function startServers() {
  const child = spawn(process.execPath, [path.join(__dirname, 'servers.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.once('exit', (code) => reject(new Error(`bench/servers.js exited with ${code}`)));
    child.stdout.on('data', (data) => {
      buffered += data;
      if (buffered.includes('\n')) resolve({ ...JSON.parse(buffered), stop: () => child.kill() });
    });
  });
}

/** The host functions of the host and hostcall workloads. */
const HOST_FUNCTIONS = {
  slow: (ms) => new Promise((resolve) => setTimeout(() => resolve(W.IO_ANSWER), ms)),
  ping: (i) => i,
};

const slowHostCall = (ms) => new Promise((resolve) => setTimeout(() => resolve(JSON.stringify(W.IO_ANSWER)), ms));

async function main() {
  const { smoke, params, out } = options();
  const ourRoot = require('./engines/backend-scripts').PACKAGE_ROOT;
  const engines = await loadEngines();
  const ours = engines.find((e) => e.id === 'ours');
  if (ours.unavailable) throw new Error(`cannot load backend-scripts: ${ours.unavailable} (run \`npm run build\` first)`);
  const available = engines.filter((e) => !e.unavailable);
  const servers = await startServers();
  const proxy = { ...servers.proxy, allowedRanges: ['127.0.0.0/8'] };
  const results = {
    machine: machine(ourRoot),
    mode: smoke ? 'smoke' : 'full',
    params,
    proxyKind: servers.proxyKind,
    engines: {},
    failures: [],
  };
  for (const e of engines) results.engines[e.id] = { label: e.label, ...(e.unavailable && { unavailable: e.unavailable }) };
  const log = (line) => process.stderr.write(`${line}\n`);
  log(`bench (${results.mode}): ${available.map((e) => e.label).join(', ')}; proxy: ${servers.proxyKind}`);
  if (results.machine.addonDebugInfo)
    log(`WARNING: ${results.machine.addon} has debug info: not the release build; run \`npm run build\` first`);

  // One job per engine and workload; ours gets the real API, the peers the prelude's globals.
  const job = (e, workload, i) => {
    const peer = e.id !== 'ours';
    switch (workload) {
      case 'backend':
        return { source: W.BACKEND_SOURCE, context: W.backendContext(i) };
      case 'empty':
        return { source: '', context: null };
      case 'host':
        return { source: W.HOST_WAIT_SOURCE, context: null, functions: HOST_FUNCTIONS };
      case 'hostcall':
        return { source: W.HOST_CALLS_SOURCE, context: null, functions: HOST_FUNCTIONS };
      case 'cpu':
        return { source: W.CPU_SOURCE, context: {} };
      case 'io':
        return peer
          ? { source: W.IO_SOURCE_PEER, context: {}, slow: slowHostCall }
          : { source: W.IO_SOURCE_OURS, context: { variables: { upstream: servers.upstream } }, proxy };
    }
    throw new Error(`unknown workload ${workload}`);
  };
  const checks = {
    backend: W.checkBackend,
    empty: W.checkEmpty,
    cpu: W.checkCpu,
    io: W.checkIo,
    host: W.checkHostWait,
    hostcall: W.checkHostCalls,
  };
  const exec = (e, workload) => (i) => e.engine.run(job(e, workload, i));

  // Runs one measurement; a failure (a wrong result included) is recorded and the run goes on.
  const rounds = {};
  const attempt = async (workload, e, measure) => {
    try {
      const figures = await measure();
      ((rounds[workload] ??= {})[e.id] ??= []).push(figures);
    } catch (error) {
      results.failures.push({
        workload,
        engine: e.id,
        error: String(error.stack ?? error)
          .split('\n')
          .slice(0, 3)
          .join(' | '),
      });
      log(`  FAILED ${workload} on ${e.label}: ${error.message}`);
    }
  };

  // Warm-up: load code, fill our bytecode cache and connection paths, and check every engine once.
  for (const e of available) {
    for (const w of ['backend', 'cpu']) await attempt(`warmup-${w}`, e, () => M.sequential(exec(e, w), checks[w], w === 'cpu' ? 2 : 20));
    await attempt('warmup-io', e, () => M.batch(exec(e, 'io'), checks.io, 5));
  }
  await attempt('warmup-empty', ours, () => M.sequential(exec(ours, 'empty'), checks.empty, 20));
  await attempt('warmup-hostcall', ours, () => M.sequential(exec(ours, 'hostcall'), checks.hostcall, 20));

  for (let round = 0; round < params.rounds; round++) {
    log(`round ${round + 1}/${params.rounds}`);
    // Rotate the order each round, so no engine always runs first or last.
    const order = available.map((_, k) => available[(k + round) % available.length]);
    for (const e of order) {
      log(`  ${e.label}`);
      await M.settle();
      await attempt('backend', e, () => M.sequential(exec(e, 'backend'), checks.backend, params.backend));
      await attempt('cpu', e, () => M.sequential(exec(e, 'cpu'), checks.cpu, params.cpu));
      await M.settle();
      await attempt('io', e, () => M.batch(exec(e, 'io'), checks.io, params.io));
      await attempt('big', e, async () => {
        const first = [];
        const second = [];
        for (let k = 0; k < params.big; k++) {
          const source = W.bigSource(`${round}.${k}.${e.id}`);
          for (const times of [first, second]) {
            const t = M.now();
            W.checkBig(await e.engine.run({ source, context: W.BIG_CONTEXT }));
            times.push(M.now() - t);
          }
        }
        return { firstMs: M.median(first), secondMs: M.median(second), bytes: Buffer.byteLength(W.bigSource('0')) };
      });
    }
    // Ours alone: the floor (an empty script through the same path), and throughput one at a time
    // against several in flight.
    await M.settle();
    await attempt('empty', ours, () => M.sequential(exec(ours, 'empty'), checks.empty, params.backend));
    // Host functions: the round trip of one call (executions of 50 calls against empty ones, side
    // by side), and the io batch again with a host function that answers after 50 ms.
    await attempt('hostcall', ours, async () => {
      const empty = await M.sequential(exec(ours, 'empty'), checks.empty, params.hostcall);
      const calls = await M.sequential(exec(ours, 'hostcall'), checks.hostcall, params.hostcall);
      return { emptyMs: empty.median, callsMs: calls.median, perCallUs: ((calls.median - empty.median) * 1000) / W.HOST_CALLS };
    });
    await M.settle();
    await attempt('host', ours, () => M.batch(exec(ours, 'host'), checks.host, params.io));
    await attempt('throughput', ours, async () => {
      const n = params.throughput;
      const one = await M.withCpu(n, () => M.sequential(exec(ours, 'backend'), checks.backend, n));
      const several = await M.withCpu(n, () => M.windowed(exec(ours, 'backend'), checks.backend, n, params.window));
      const emptyOne = await M.withCpu(n, () => M.sequential(exec(ours, 'empty'), checks.empty, n));
      const emptySeveral = await M.withCpu(n, () => M.windowed(exec(ours, 'empty'), checks.empty, n, params.window));
      return {
        one: one.perSec,
        several: several.perSec,
        emptyOne: emptyOne.perSec,
        emptySeveral: emptySeveral.perSec,
        // CPU per execution, all threads and Node's main thread: what bounds throughput on few cores.
        cpuUs: one.cpuUsPerExec,
        mainCpuUs: one.mainCpuUsPerExec,
        severalCpuUs: several.cpuUsPerExec,
        emptyCpuUs: emptyOne.cpuUsPerExec,
        emptyMainCpuUs: emptyOne.mainCpuUsPerExec,
      };
    });
  }

  // Memory in processes of their own, so that the peers and the other workloads are not in RSS.
  log('memory: in-flight executions waiting on a slow upstream');
  await attempt('inflight', ours, () => memoryChild({ measure: 'inflight', params, upstream: servers.upstream, proxy }));
  log(`soak: ${params.soak} executions`);
  await attempt('soak', ours, () => memoryChild({ measure: 'soak', params }));
  log('require() time');
  await attempt('require', ours, async () => requireTime(ourRoot, params.require));
  servers.stop();
  log(`end to end: ${params.e2e} s per page, ${params.connections} connections`);
  await attempt('e2e', ours, async () => {
    results.endToEnd = await endToEnd({ connections: params.connections, seconds: params.e2e, warmupSeconds: smoke ? 1 : 2, log });
    return {};
  });

  results.rounds = rounds;
  results.figures = summarize(rounds);
  const text = report(results);
  console.log(text);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  log(`figures written to ${path.relative(process.cwd(), out)}`);
  if (results.failures.length > 0) {
    log(`${results.failures.length} measurement(s) failed; see above`);
    process.exitCode = 1;
  }
}

/** The median of each figure over the rounds. */
function summarize(rounds) {
  const figures = {};
  for (const [workload, byEngine] of Object.entries(rounds)) {
    if (workload.startsWith('warmup')) continue;
    figures[workload] = {};
    for (const [id, list] of Object.entries(byEngine)) {
      const keys = Object.keys(list[0]).filter((k) => typeof list[0][k] === 'number');
      figures[workload][id] = Object.fromEntries(keys.map((k) => [k, M.median(list.map((f) => f[k]))]));
    }
  }
  return figures;
}

/** Runs one measurement of bench/memory.js in a Node process of its own; its figures. */
function memoryChild(args) {
  const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'memory.js'), JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (data) => (output += data));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`bench/memory.js (${args.measure}) exited with ${code}`)),
    );
  });
}

/** `require()` of the package in a fresh Node process, `runs` times. */
function requireTime(root, runs) {
  const times = [];
  for (let k = 0; k < runs; k++) {
    const code = `const t = performance.now(); require(${JSON.stringify(root)}); process.stdout.write(String(performance.now() - t));`;
    times.push(Number(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' })));
  }
  return { ms: M.median(times), min: Math.min(...times), max: Math.max(...times) };
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

'use strict';

// Timing and memory primitives. Every execution's result is checked; a wrong one throws.

const { monitorEventLoopDelay } = require('node:perf_hooks');

const now = () => Number(process.hrtime.bigint()) / 1e6;

function median(values) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The nearest-rank percentile. */
function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const rssMiB = () => process.memoryUsage.rss() / 2 ** 20;

/** CPU time in ms: of the whole process (every thread), and of Node's main thread (Linux only). */
function cpuMs() {
  const { user, system } = process.cpuUsage();
  let main;
  try {
    main = Number(require('node:fs').readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    main = NaN;
  }
  return { process: (user + system) / 1000, main };
}

/** Runs `measure`, and adds the CPU time it used per execution (µs), whole process and main thread. */
async function withCpu(count, measure) {
  const before = cpuMs();
  const figures = await measure();
  const after = cpuMs();
  return {
    ...figures,
    cpuUsPerExec: ((after.process - before.process) / count) * 1000,
    mainCpuUsPerExec: ((after.main - before.main) / count) * 1000,
  };
}

/** Collects garbage (when --expose-gc is on) and lets finalizers and freed threads settle. */
async function settle(ms = 50) {
  globalThis.gc?.();
  await new Promise((resolve) => setTimeout(resolve, ms));
  globalThis.gc?.();
}

/**
 * Runs `count` executions one at a time: latency of each, and executions per second over the whole.
 * @param {(i: number) => Promise<object>} execute
 * @param {(result: object, i: number) => void} check
 */
async function sequential(execute, check, count) {
  const samples = new Array(count);
  const start = now();
  for (let i = 0; i < count; i++) {
    const t = now();
    const result = await execute(i);
    samples[i] = now() - t;
    check(result, i);
  }
  const wallMs = now() - start;
  return { median: median(samples), p99: percentile(samples, 99), perSec: (count / wallMs) * 1000 };
}

/** Runs `count` executions keeping `window` of them in flight; executions per second. */
async function windowed(execute, check, count, window) {
  let next = 0;
  const start = now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      check(await execute(i), i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
  return { perSec: (count / (now() - start)) * 1000 };
}

/**
 * Starts `count` executions at once and waits for all: the batch's wall time, the worst delay of
 * Node's event loop meanwhile (sampled every millisecond; the histogram counts the whole interval,
 * so the 1 ms resolution is taken off), and the CPU time Node's main thread spent on the batch.
 */
async function batch(execute, check, count) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // The histogram records from its second tick on: a block before that would go unseen.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const cpu = cpuMs().main;
  const start = now();
  const results = await Promise.all(Array.from({ length: count }, (_, i) => execute(i)));
  const wallMs = now() - start;
  const mainCpuMs = cpuMs().main - cpu;
  histogram.disable();
  results.forEach(check);
  return { wallMs, maxDelayMs: Math.max(0, histogram.max / 1e6 - 1), mainCpuMs };
}

module.exports = { now, median, percentile, rssMiB, cpuMs, withCpu, settle, sequential, windowed, batch };

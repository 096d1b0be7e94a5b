'use strict';

// Prometheus metrics for the demo site, served at /metrics: what every page's execution did,
// counted from backendScripts()'s onExecution records, and what the executor is doing, read from
// executorStats() each time the metrics are scraped. prom-client does the metrics; backend-scripts
// only hands over the records. Copy this file into a site and adjust names and buckets.

const client = require('prom-client');
const { executorStats } = require('..');

/**
 * A registry with the pages' metrics, the onExecution that feeds it, and an Express handler for
 * the scrape.
 */
function pageMetrics() {
  const registry = new client.Registry();
  const registers = [registry];

  // Labels hold only values the site bounds: its page files, the error codes, the policy's rule
  // codes. Never a host a script chose, which a hostile page could vary without end.
  const executions = new client.Counter({
    name: 'backend_scripts_executions_total',
    help: 'Pages served, by page and outcome (ok, or the error code)',
    labelNames: ['page', 'outcome'],
    registers,
  });
  const duration = new client.Histogram({
    name: 'backend_scripts_execution_duration_seconds',
    help: 'Wall time of each execution, HTTP waits included, queueing not',
    labelNames: ['outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const cpu = new client.Histogram({
    name: 'backend_scripts_execution_cpu_seconds',
    help: 'CPU time of each execution',
    labelNames: ['outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });
  const queued = new client.Histogram({
    name: 'backend_scripts_execution_queue_seconds',
    help: 'Time each execution waited for a slot to run in',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers,
  });
  const memory = new client.Histogram({
    name: 'backend_scripts_execution_peak_memory_bytes',
    help: 'The most memory each execution held at once',
    buckets: client.exponentialBuckets(256 * 1024, 2, 10),
    registers,
  });
  const requests = new client.Counter({
    name: 'backend_scripts_http_requests_total',
    help: "Scripts' HTTP requests, by outcome (the status class, or why there was no response) and the rule that refused them",
    labelNames: ['outcome', 'rule'],
    registers,
  });

  const hostCalls = new client.Counter({
    name: 'backend_scripts_host_calls_total',
    help: "Scripts' calls to the site's own functions, by function and outcome (ok, or why the call gave no value)",
    labelNames: ['name', 'outcome'],
    registers,
  });

  // Gauges read when scraped, so they are never stale.
  const gauge = (name, help, field) =>
    new client.Gauge({
      name: `backend_scripts_executor_${name}`,
      help,
      registers,
      collect() {
        this.set(executorStats()[field]);
      },
    });
  gauge('running', 'Executions running JavaScript', 'running');
  gauge('queued', 'Executions waiting for a slot to start', 'queued');
  gauge('in_flight', 'Executions started and not finished, waiting on HTTP included', 'inFlight');
  gauge('threads', 'Executor threads, idle ones included', 'threads');
  gauge('abandoned', 'Threads still finishing a script already answered with ERR_SCRIPT_TIMEOUT', 'abandoned');

  /** backendScripts()'s onExecution: one record per page served. */
  function onExecution(record) {
    executions.inc({ page: record.page, outcome: record.outcome });
    duration.observe({ outcome: record.outcome }, record.durationMs / 1000);
    cpu.observe({ outcome: record.outcome }, record.cpuMs / 1000);
    // A page that never ran (refused as busy, say) has nothing to measure.
    if (record.peakMemoryBytes > 0) {
      queued.observe(record.queueMs / 1000);
      memory.observe(record.peakMemoryBytes);
    }
    for (const r of record.requests) {
      requests.inc({ outcome: r.error ?? `${Math.floor(r.status / 100)}xx`, rule: r.rule ?? '' });
    }
    // Function names are the site's own, so they are bounded labels.
    for (const call of record.hostCalls) hostCalls.inc({ name: call.name, outcome: call.error ?? 'ok' });
  }

  /** GET /metrics: the Prometheus text format. */
  async function handler(req, res, next) {
    try {
      res.type(registry.contentType).send(await registry.metrics());
    } catch (error) {
      next(error);
    }
  }

  return { registry, onExecution, handler };
}

module.exports = { pageMetrics };

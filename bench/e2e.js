'use strict';

// End to end: HTTP requests from autocannon to Express with backendScripts() on loopback, for a
// static page (the floor), a page with a trivial backend script, and the seed page (one HTTP
// call through the egress proxy to an upstream that answers after 20 ms), with 1 and 2 app
// processes (bench/e2e-site.js). Reports requests/s and latency percentiles, and checks every
// answer: a run with a non-2xx answer or an error fails.

const { spawn } = require('node:child_process');
const path = require('node:path');
const autocannon = require('autocannon');

const PAGES = [
  { id: 'static', path: '/static', label: 'static page (express.static, the floor)', body: 'Hello, visitor' },
  { id: 'trivial', path: '/trivial', label: 'page with a trivial backend script', body: 'Hello, visitor' },
  {
    id: 'seed',
    path: '/seed?token=good-token',
    label: 'seed page: one HTTP call through the proxy (upstream 20 ms)',
    body: 'Welcome, Ada',
  },
];

function startSite(workers, upstreamMs) {
  const child = spawn(
    process.execPath,
    [path.join(__dirname, 'e2e-site.js'), '--workers', String(workers), '--upstream-ms', String(upstreamMs)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.once('exit', (code) => reject(new Error(`bench/e2e-site.js exited with ${code}`)));
    child.stdout.on('data', (data) => {
      buffered += data;
      if (buffered.includes('\n')) {
        resolve({
          port: JSON.parse(buffered).port,
          stop: () =>
            new Promise((done) => {
              child.removeAllListeners('exit');
              child.once('exit', done);
              child.kill('SIGTERM');
            }),
        });
      }
    });
  });
}

/** One autocannon run; every answer must be a 200 holding `body`. */
async function load(url, { connections, seconds, body }) {
  // One checked request first: a page that fails would otherwise be measured as fast 500s.
  const probe = await fetch(url);
  const text = await probe.text();
  if (probe.status !== 200 || !text.includes(body)) throw new Error(`${url} answered ${probe.status}: ${text.slice(0, 200)}`);
  const result = await autocannon({ url, connections, duration: seconds });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  return { perSec: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, total: result.requests.total };
}

/**
 * Measures every page with each number of app processes, the same run side by side.
 * @returns {Promise<{ connections: number, seconds: number, rows: Array<{ workers: number, page: string, perSec: number, p50: number, p99: number }> }>}
 */
async function endToEnd({ connections, seconds, warmupSeconds, processes = [1, 2], upstreamMs = 20, log = () => {} }) {
  const rows = [];
  for (const workers of processes) {
    const site = await startSite(workers, upstreamMs);
    try {
      for (const page of PAGES) {
        const url = `http://127.0.0.1:${site.port}${page.path}`;
        log(`  end to end: ${page.id}, ${workers} app process(es)`);
        await load(url, { connections, seconds: warmupSeconds, body: page.body });
        rows.push({ workers, page: page.id, ...(await load(url, { connections, seconds, body: page.body })) });
      }
    } finally {
      await site.stop();
    }
  }
  return { connections, seconds, upstreamMs, rows };
}

module.exports = { endToEnd, PAGES };

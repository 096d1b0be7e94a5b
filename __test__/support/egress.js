'use strict';

// Helpers shared by the egress specs (http, ssrf): a proxyConfig that reaches the loopback test
// servers, a way to run a few lines of script and get back what they returned, and the test
// servers in a process of their own (so that timing the event loop measures the addon alone).
const { fork } = require('node:child_process');
const { runBackendScript } = require('../..');

/**
 * The proxyConfig of the seed examples: through `proxy` with its credentials, with 127.0.0.0/8
 * lifted from the policy so the loopback test servers can be reached.
 */
function loopbackConfig(proxy, extra = {}) {
  return {
    url: proxy.url,
    username: proxy.username,
    password: proxy.password,
    allowedRanges: ['127.0.0.0/8'],
    ...extra,
  };
}

/**
 * Runs `body` as the body of a function inside a script; resolves with what it returned (as
 * JSON) and the whole result of the execution.
 */
async function evaluate(body, proxyConfig, options = null) {
  const result = await runBackendScript(`setVariable('value', (function () {\n${body}\n})())`, null, proxyConfig, options);
  return { value: result.variables.value, result };
}

/** What `http.get(url)` returned in a script run with `proxyConfig`. */
async function get(url, proxyConfig, options) {
  const { value } = await evaluate(`return http.get(${JSON.stringify(url)})`, proxyConfig, options);
  return value;
}

/**
 * Forgets what the servers recorded so far, once a proxy among them has reported every request it
 * received: a decision that came late would otherwise land in the next test's records.
 */
async function clearRecords(...servers) {
  await Promise.all(servers.map((server) => server.settled?.()));
  for (const server of servers) {
    if (server.hits) server.hits.length = 0;
    if (server.requests) server.requests.length = 0;
  }
}

/**
 * Starts an upstream and the package's egress proxy in a child process.
 * @returns {Promise<{ upstream: string, proxy: { url: string, username: string, password: string },
 *   counts(): Promise<{ hits: number, requests: number }>, close(): void }>}
 */
async function startServersInChild() {
  const child = fork(__filename, [], { stdio: 'inherit' });
  const ready = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the test servers' process exited early (${code})`)));
  });
  return {
    ...ready,
    counts: () =>
      new Promise((resolve) => {
        child.once('message', resolve);
        child.send('counts');
      }),
    close: () => child.disconnect(),
  };
}

if (require.main === module) {
  // The child's side of startServersInChild().
  const { startUpstream } = require('./upstream');
  const { startPackageProxy } = require('./proxy');
  (async () => {
    // Requests here wait up to 500 ms for their answer, under load: far from the idle timeout.
    const [upstream, proxy] = await Promise.all([startUpstream(), startPackageProxy({ idleTimeoutMs: 10000 })]);
    process.send({ upstream: upstream.url, proxy: { url: proxy.url, username: proxy.username, password: proxy.password } });
    process.on('message', async () => {
      await proxy.settled();
      process.send({ hits: upstream.hits.length, requests: proxy.requests.length });
    });
    process.on('disconnect', () => process.exit(0));
  })();
}

/**
 * An upstream and the package's egress proxy in this process, for the specs that read records:
 * one credential whose own policy refuses 127.0.0.2 (which the addon's own check lets through),
 * and the proxyConfig a script uses with it.
 */
async function startRecordedEgress(credentials) {
  const { startEgressProxy } = require('../..');
  const { startUpstream } = require('./upstream');
  const upstream = await startUpstream();
  const proxy = await startEgressProxy({
    allowedRanges: ['127.0.0.0/8'],
    credentials: [{ ...credentials, deniedRanges: ['127.0.0.2/32'] }],
  });
  return {
    upstream,
    proxy,
    proxyConfig: { url: proxy.url, ...credentials, allowedRanges: ['127.0.0.0/8'] },
    close: async () => {
      await proxy.close();
      await upstream.close();
    },
  };
}

module.exports = { loopbackConfig, evaluate, get, clearRecords, startServersInChild, startRecordedEgress };

'use strict';

// The authenticated egress proxies that sandboxed scripts must go through, on 127.0.0.1 only:
// the package's own (startEgressProxy), which the egress tests use by default, and a third-party
// one (proxy-chain), for the tests that look at the raw request a proxy receives.
const net = require('node:net');
const { Server } = require('proxy-chain');
const { startEgressProxy } = require('../..');

/**
 * Starts the package's egress proxy with one pair of credentials, allowing 127.0.0.0/8 (so it
 * can reach the loopback test servers) unless `options.allowedRanges` says otherwise;
 * `options.credential` adds rules to the credential (`maxRequestsPerMinute`, …); the other
 * `options` go to `startEgressProxy` as they are.
 *
 * `requests` is filled from `onDecision`, which the proxy calls asynchronously once a request is
 * over (a tunnel when it closes): call `settled()` before looking at it.
 * @param {{ username?: string, password?: string, credential?: object } & object} [options]
 * @returns {Promise<{ url: string, port: number, username: string, password: string,
 *   requests: Array<{ method: string, target: string, allowed: boolean, rule: string | null, username: string | null }>,
 *   stats(): object, settled(timeoutMs?: number): Promise<void>, close(): Promise<void> }>}
 */
async function startPackageProxy({ username = 'egress', password = 'secret', credential = {}, ...options } = {}) {
  const requests = [];
  let reported = 0; // not reset when a test empties `requests`
  const waiters = new Set();
  const proxy = await startEgressProxy({
    allowedRanges: ['127.0.0.0/8'],
    // The addon's connection pool keeps a tunnel open for 30 s, and a tunnel is reported when it
    // closes: closing idle ones after 1 s keeps settled() short.
    idleTimeoutMs: 1000,
    ...options,
    credentials: [{ username, password, ...credential }],
    onDecision: (d) => {
      requests.push({ method: d.method, target: d.target, allowed: d.allowed, rule: d.rule, username: d.username });
      reported += 1;
      for (const waiter of waiters) waiter();
    },
  });

  /** Resolves once every request the proxy has counted so far has been reported. */
  function settled(timeoutMs = 5000) {
    const counted = proxy.stats().requests;
    return new Promise((resolve, reject) => {
      const finish = (error) => {
        clearTimeout(timer);
        waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        const { droppedDecisions } = proxy.stats();
        if (droppedDecisions > 0) finish(new Error(`the egress proxy dropped ${droppedDecisions} decisions: \`requests\` is incomplete`));
        else if (reported >= counted) finish();
      };
      const timer = setTimeout(
        () =>
          finish(
            new Error(
              `the egress proxy reported ${reported} of the ${counted} requests it counted within ${timeoutMs} ms: is a tunnel still open?`,
            ),
          ),
        timeoutMs,
      );
      waiters.add(check);
      check();
    });
  }

  return {
    url: proxy.url,
    port: proxy.port,
    username,
    password,
    requests,
    stats: () => proxy.stats(),
    settled,
    close: () => proxy.close(),
  };
}

/**
 * Starts a third-party forward proxy (proxy-chain) that requires Basic `Proxy-Authorization` and
 * answers 407 otherwise. It forwards absolute-form `http://` requests and tunnels CONNECT (used
 * for https upstreams). `requests` holds every request that reached it with its raw headers,
 * recorded as it arrives and before authentication, so `settled()` has nothing to wait for.
 * @param {{ username?: string, password?: string }} [options]
 * @returns {Promise<{ url: string, port: number, username: string, password: string,
 *   requests: Array<{ method: string, target: string, headers: object }>, settled(): Promise<void>,
 *   close(): Promise<void> }>}
 */
async function startAuthProxy({ username = 'egress', password = 'secret' } = {}) {
  const requests = [];
  const proxy = new Server({
    port: 0,
    host: '127.0.0.1',
    prepareRequestFunction: (request) => ({
      requestAuthentication: request.username !== username || request.password !== password,
      failMsg: 'Proxy credentials required.',
    }),
  });
  // Prepended so that requests proxy-chain rejects before authenticating (a malformed
  // target or Proxy-Authorization header) are recorded too.
  const record = (req) => requests.push({ method: req.method, target: req.url, headers: req.headers });
  proxy.server.prependListener('request', record);
  proxy.server.prependListener('connect', record);

  await proxy.listen();
  return {
    url: `http://127.0.0.1:${proxy.port}`,
    port: proxy.port,
    username,
    password,
    requests,
    settled: async () => {},
    close: () => proxy.close(true),
  };
}

/**
 * A port on 127.0.0.1 with nothing listening, for "the proxy is down" tests.
 * @returns {Promise<number>}
 */
async function startDeadPort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

module.exports = { startPackageProxy, startAuthProxy, startDeadPort };

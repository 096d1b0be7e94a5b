'use strict';

// The authenticated egress proxy that sandboxed scripts must go through, on 127.0.0.1 only.
const net = require('node:net');
const { Server } = require('proxy-chain');

/**
 * Starts a forward proxy that requires Basic `Proxy-Authorization` and answers 407 otherwise.
 * It forwards absolute-form `http://` requests and tunnels CONNECT (used for https upstreams).
 * `requests` holds every request that reached it, recorded before authentication.
 * @param {{ username?: string, password?: string }} [options]
 * @returns {Promise<{ url: string, port: number, username: string, password: string,
 *   requests: Array<{ method: string, target: string, headers: object }>, close(): Promise<void> }>}
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

module.exports = { startAuthProxy, startDeadPort };

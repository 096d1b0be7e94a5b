'use strict';

// The upstream and the authenticated egress proxy, in a child process of their own so that their
// CPU time, event loop and memory are not counted against the engine being measured.
// Prints one JSON line: { upstream, proxy: { url, username, password }, proxyKind }.
const path = require('node:path');
const { startUpstream } = require('../__test__/support/upstream');

const CREDENTIALS = { username: 'bench', password: 'bench-secret' };

async function startProxy() {
  const { startEgressProxy } = require(path.join(__dirname, '..'));
  if (typeof startEgressProxy === 'function') {
    const proxy = await startEgressProxy({
      credentials: [CREDENTIALS],
      allowedRanges: ['127.0.0.0/8'],
      // The memory workload holds 1,000 requests open at once.
      maxTunnelsPerClient: 4096,
    });
    return { url: proxy.url, kind: 'startEgressProxy (the addon’s embedded Rust proxy)' };
  }
  const { startAuthProxy } = require('../__test__/support/proxy');
  const proxy = await startAuthProxy(CREDENTIALS);
  return { url: proxy.url, kind: 'proxy-chain (__test__/support/proxy.js)' };
}

async function main() {
  const upstream = await startUpstream();
  const proxy = await startProxy();
  // The upstream records every hit for tests; the benchmark does not need them.
  upstream.hits.push = () => 0;
  process.stdout.write(`${JSON.stringify({ upstream: upstream.url, proxy: { url: proxy.url, ...CREDENTIALS }, proxyKind: proxy.kind })}\n`);
  // Ends with its parent.
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

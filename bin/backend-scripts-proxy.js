#!/usr/bin/env node
// The egress proxy as a process of its own, for a host separate from the application servers:
//   npx backend-scripts-proxy --listen 0.0.0.0:3128 --credentials-file /etc/egress/credentials
// Logs one JSON line per request to stdout; stops gracefully on SIGINT and SIGTERM.
'use strict';

const fs = require('node:fs');
const { parseArgs } = require('node:util');

const USAGE = `Usage: backend-scripts-proxy --credentials-file FILE [options]

An authenticated HTTP forward proxy that refuses private, loopback, link-local and other
internal destinations, for the HTTP requests of backend scripts.

Options:
  --listen IP:PORT             where to listen (default 127.0.0.1:3128)
  --credentials-file FILE      lines of username:password; blank lines and # comments ignored
  --allowed-range CIDR         lift the built-in block for a range (repeatable)
  --denied-range CIDR          refuse a range on top of the built-in ones (repeatable)
  --denied-host NAME           refuse a host name, or *.domain for a subtree (repeatable)
  --resolver IP[:PORT]         resolve with this DNS server instead of the system resolver
  --connect-timeout-ms N       default 10000
  --idle-timeout-ms N          default 60000
  --resolve-timeout-ms N       default 5000
  --shutdown-timeout-ms N      default 5000
  --max-tunnels-per-client N   default 256
  --max-header-bytes N         default 16384
  -h, --help                   show this help`;

const NUMBERS = {
  'connect-timeout-ms': 'connectTimeoutMs',
  'idle-timeout-ms': 'idleTimeoutMs',
  'resolve-timeout-ms': 'resolveTimeoutMs',
  'shutdown-timeout-ms': 'shutdownTimeoutMs',
  'max-tunnels-per-client': 'maxTunnelsPerClient',
  'max-header-bytes': 'maxHeaderBytes',
};

function fail(message) {
  process.stderr.write(`backend-scripts-proxy: ${message}\n`);
  process.exit(2);
}

/** `username:password` lines; the password is everything after the first colon. */
function readCredentials(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    fail(`cannot read the credentials file ${file}: ${error.message}`);
  }
  const credentials = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0 || colon === line.length - 1) {
      fail(`${file} line ${index + 1} is not username:password`);
    }
    credentials.push({ username: line.slice(0, colon), password: line.slice(colon + 1) });
  });
  if (credentials.length === 0) fail(`${file} holds no username:password line`);
  return credentials;
}

function optionsFrom(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        listen: { type: 'string', default: '127.0.0.1:3128' },
        'credentials-file': { type: 'string' },
        'allowed-range': { type: 'string', multiple: true, default: [] },
        'denied-range': { type: 'string', multiple: true, default: [] },
        'denied-host': { type: 'string', multiple: true, default: [] },
        resolver: { type: 'string' },
        ...Object.fromEntries(Object.keys(NUMBERS).map((name) => [name, { type: 'string' }])),
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    fail(`${error.message}\n\n${USAGE}`);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (!values['credentials-file']) fail(`--credentials-file is required\n\n${USAGE}`);
  const options = {
    listen: values.listen,
    credentials: readCredentials(values['credentials-file']),
    allowedRanges: values['allowed-range'],
    deniedRanges: values['denied-range'],
    deniedHosts: values['denied-host'],
  };
  if (values.resolver !== undefined) options.resolver = values.resolver;
  for (const [flag, key] of Object.entries(NUMBERS)) {
    if (values[flag] === undefined) continue;
    const number = Number(values[flag]);
    if (!Number.isInteger(number)) fail(`--${flag} must be an integer, not ${JSON.stringify(values[flag])}`);
    options[key] = number;
  }
  return options;
}

async function main() {
  const options = optionsFrom(process.argv.slice(2));
  const { startEgressProxy } = require('../index.js');
  let proxy;
  try {
    proxy = await startEgressProxy({
      ...options,
      onDecision: (decision) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...decision })}\n`),
    });
  } catch (error) {
    fail(error.message);
  }
  process.stderr.write(`backend-scripts-proxy: listening on ${options.listen} (port ${proxy.port})\n`);

  // The proxy runs on the addon's threads; this timer keeps Node's event loop, and so the
  // decision log, alive until a signal arrives.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let closing = false;
  const stop = async (signal) => {
    if (closing) return;
    closing = true;
    process.stderr.write(`backend-scripts-proxy: ${signal}, closing\n`);
    await proxy.close();
    clearInterval(keepAlive);
    process.stderr.write('backend-scripts-proxy: closed\n');
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main();

#!/usr/bin/env node
// The egress proxy as a process of its own, for a host separate from the application servers:
//   npx backend-scripts-proxy --config /etc/egress/proxy.json
//   npx backend-scripts-proxy --listen 0.0.0.0:3128 --credentials-file /etc/egress/credentials
// Logs one JSON line per request to stdout; reloads its files on SIGHUP; stops gracefully on
// SIGINT and SIGTERM.
'use strict';

const fs = require('node:fs');
const { parseArgs } = require('node:util');

const USAGE = `Usage: backend-scripts-proxy (--config FILE | --credentials-file FILE) [options]

An authenticated HTTP forward proxy that refuses private, loopback, link-local and other
internal destinations, for the HTTP requests of backend scripts.

Options:
  --config FILE                a JSON object with startEgressProxy's options: listen,
                               credentials (each with its own allowedHosts, deniedHosts,
                               deniedRanges, mode, maxRequestsPerMinute, maxConcurrent),
                               allowedRanges, deniedRanges, deniedHosts, timeouts, limits
  --credentials-file FILE      lines of username:password; blank lines and # comments ignored
  --listen IP:PORT             where to listen (default 127.0.0.1:3128)
  --metrics-listen IP:PORT     serve Prometheus metrics (GET /metrics) and GET /healthz there
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
  -h, --help                   show this help

A flag given on the command line wins over the same option in the --config file.
On SIGHUP the files are read again and put in force without dropping connections or tunnels;
when they are invalid, the configuration in force stays, and the reason is logged to stderr.`;

const NUMBERS = {
  'connect-timeout-ms': 'connectTimeoutMs',
  'idle-timeout-ms': 'idleTimeoutMs',
  'resolve-timeout-ms': 'resolveTimeoutMs',
  'shutdown-timeout-ms': 'shutdownTimeoutMs',
  'max-tunnels-per-client': 'maxTunnelsPerClient',
  'max-header-bytes': 'maxHeaderBytes',
};
const LISTS = { 'allowed-range': 'allowedRanges', 'denied-range': 'deniedRanges', 'denied-host': 'deniedHosts' };
const STRINGS = { listen: 'listen', 'metrics-listen': 'metricsListen', resolver: 'resolver' };

/** A configuration that cannot be used; the message says why, naming the file and the field. */
class ConfigError extends Error {}

function log(message) {
  process.stderr.write(`backend-scripts-proxy: ${message}\n`);
}

function fail(message) {
  log(message);
  process.exit(2);
}

/** `username:password` lines; the password is everything after the first colon. */
function readCredentials(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the credentials file ${file}: ${error.message}`);
  }
  const credentials = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0 || colon === line.length - 1) {
      throw new ConfigError(`${file} line ${index + 1} is not username:password`);
    }
    credentials.push({ username: line.slice(0, colon), password: line.slice(colon + 1) });
  });
  if (credentials.length === 0) throw new ConfigError(`${file} holds no username:password line`);
  return credentials;
}

/** The --config file: a JSON object of startEgressProxy's options. */
function readConfig(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the config file ${file}: ${error.message}`);
  }
  let config;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON: ${error.message}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError(`${file} must hold a JSON object of the proxy's options`);
  }
  if ('onDecision' in config) throw new ConfigError(`${file}: onDecision cannot be set in a file (decisions go to stdout)`);
  return config;
}

function flagsFrom(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        'credentials-file': { type: 'string' },
        ...Object.fromEntries(Object.keys(STRINGS).map((name) => [name, { type: 'string' }])),
        ...Object.fromEntries(Object.keys(LISTS).map((name) => [name, { type: 'string', multiple: true }])),
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
  if (!values.config && !values['credentials-file']) fail(`--config or --credentials-file is required\n\n${USAGE}`);
  for (const flag of Object.keys(NUMBERS)) {
    if (values[flag] !== undefined && !Number.isInteger(Number(values[flag]))) {
      fail(`--${flag} must be an integer, not ${JSON.stringify(values[flag])}`);
    }
  }
  return values;
}

/** The proxy's options from the files and the flags, read anew on every call (start, SIGHUP). */
function optionsFrom(flags) {
  const options = flags.config ? readConfig(flags.config) : {};
  if (flags['credentials-file']) {
    if (options.credentials !== undefined) {
      throw new ConfigError(`${flags.config} has credentials and --credentials-file gives them too: keep one`);
    }
    options.credentials = readCredentials(flags['credentials-file']);
  }
  for (const [flag, key] of Object.entries(STRINGS)) if (flags[flag] !== undefined) options[key] = flags[flag];
  for (const [flag, key] of Object.entries(LISTS)) if (flags[flag] !== undefined) options[key] = flags[flag];
  for (const [flag, key] of Object.entries(NUMBERS)) if (flags[flag] !== undefined) options[key] = Number(flags[flag]);
  options.listen ??= '127.0.0.1:3128';
  return options;
}

/** An option error from the addon, said of the file: `"credentials[1].mode" must be …`. */
function described(error, flags) {
  const source = flags.config ?? 'the options';
  const message = error.message.replace(/^The "options\.?([^"]*)" argument /, (_, field) => (field ? `"${field}" ` : ''));
  return `${source}: ${message}`;
}

async function main() {
  const flags = flagsFrom(process.argv.slice(2));
  let options;
  try {
    options = optionsFrom(flags);
  } catch (error) {
    fail(error.message);
  }
  const { startEgressProxy } = require('../index.js');
  let proxy;
  try {
    proxy = await startEgressProxy({
      ...options,
      onDecision: (decision) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...decision })}\n`),
    });
  } catch (error) {
    fail(error.code?.startsWith('ERR_INVALID_ARG') ? described(error, flags) : error.message);
  }
  log(`listening on ${options.listen} (port ${proxy.port})`);
  if (proxy.metricsUrl) log(`metrics at ${proxy.metricsUrl}`);

  // The proxy runs on the addon's threads; this timer keeps Node's event loop, and so the
  // decision log, alive until a signal arrives.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let closing = false;
  const stop = async (signal) => {
    if (closing) return;
    closing = true;
    log(`${signal}, closing`);
    await proxy.close();
    clearInterval(keepAlive);
    log('closed');
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => {
    if (closing) return;
    try {
      proxy.reload(optionsFrom(flags));
      log('SIGHUP: configuration reloaded');
    } catch (error) {
      const reason = error instanceof ConfigError ? error.message : described(error, flags);
      log(`SIGHUP: configuration not reloaded, the previous one stays in force: ${reason}`);
    }
  });
}

main();

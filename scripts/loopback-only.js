#!/usr/bin/env node
// Runs a command in a fresh network namespace where only loopback is up, so
// nothing it does (or any bug in it) can send a packet off this machine.
// Usage: node scripts/loopback-only.js <command> [args…]
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node scripts/loopback-only.js <command> [args…]');
  process.exit(2);
}

const env = {
  ...process.env,
  BACKEND_SCRIPTS_LOOPBACK_ONLY: '1',
  // Resolve `jest` & co. as an npm script would; `ip` lives in sbin, often not on a user's PATH.
  PATH: [path.join(__dirname, '..', 'node_modules', '.bin'), process.env.PATH, '/usr/sbin', '/sbin'].join(path.delimiter),
};
const bringUpLoopback = 'ip link set lo up';

// Root can make a network namespace directly; anyone else needs a user namespace too.
const candidates = process.getuid() === 0 ? [['--net'], ['--net', '--map-root-user']] : [['--net', '--map-root-user']];
const failures = [];
const flags = candidates.find((candidate) => {
  const probe = spawnSync('unshare', [...candidate, '--', 'sh', '-c', bringUpLoopback], { env, encoding: 'utf8' });
  if (probe.status === 0) return true;
  failures.push(`  unshare ${candidate.join(' ')}: ${(probe.error?.message ?? probe.stderr).trim() || `exit ${probe.status}`}`);
  return false;
});
if (!flags) {
  console.error(
    [
      'loopback-only: cannot create a network namespace with only loopback up, so the command was not run',
      '(it must never fall back to the host network).',
      ...failures,
      'Run as root, or enable unprivileged user namespaces (e.g. sysctl kernel.unprivileged_userns_clone=1);',
      '`unshare` comes with util-linux and `ip` with iproute2.',
    ].join('\n'),
  );
  process.exit(1);
}

// unshare and sh both exec, so the child's pid is the command itself.
const child = spawn('unshare', [...flags, '--', 'sh', '-c', `${bringUpLoopback} && exec "$@"`, 'sh', command, ...args], {
  env,
  stdio: 'inherit',
});
// Ctrl-C already reaches the child through the terminal's process group; forward the rest.
process.on('SIGINT', () => {});
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('error', (error) => {
  console.error(`loopback-only: could not start unshare: ${error.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => process.exit(signal ? 128 + os.constants.signals[signal] : code));

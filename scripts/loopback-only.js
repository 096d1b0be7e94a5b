#!/usr/bin/env node
// Runs a command in a fresh network namespace where only loopback is up, so
// nothing it does (or any bug in it) can send a packet off this machine. On macOS, in a sandbox
// that denies every network connection but loopback; on Windows, only once a firewall rule does
// the same (the release workflow adds one). The tests' global setup checks it either way.
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

// Runs the command as it is (inside whatever confines it) and exits as it does.
function runConfined(file, fileArgs, options = {}) {
  const child = spawn(file, fileArgs, { env, stdio: 'inherit', ...options });
  process.on('SIGINT', () => {});
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (error) => {
    console.error(`loopback-only: could not start ${file}: ${error.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(signal ? 128 + os.constants.signals[signal] : code));
}

if (process.platform === 'darwin') {
  // Seatbelt: every network operation is denied except to and from loopback and local sockets.
  const profile = [
    '(version 1)',
    '(allow default)',
    '(deny network*)',
    '(allow network* (local ip "localhost:*"))',
    '(allow network* (remote ip "localhost:*"))',
    '(allow network* (remote unix-socket))',
  ].join('');
  runConfined('sandbox-exec', ['-p', profile, command, ...args]);
  return;
}
if (process.platform === 'win32') {
  if (process.env.BACKEND_SCRIPTS_OUTBOUND_BLOCKED !== '1') {
    console.error(
      [
        'loopback-only: Windows has no network namespaces, so the command was not run.',
        'Block outbound connections of node.exe to every address but loopback with a firewall rule first',
        '(see .github/workflows/release.yml), then set BACKEND_SCRIPTS_OUTBOUND_BLOCKED=1.',
      ].join('\n'),
    );
    process.exit(1);
  }
  // npx and jest are .cmd scripts on Windows, which only a shell runs.
  runConfined([command, ...args].join(' '), [], { shell: true });
  return;
}

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

// unshare and sh both exec, so the child's pid is the command itself. Ctrl-C already reaches it
// through the terminal's process group; runConfined forwards the rest.
runConfined('unshare', [...flags, '--', 'sh', '-c', `${bringUpLoopback} && exec "$@"`, 'sh', command, ...args]);

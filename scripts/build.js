#!/usr/bin/env node
// Builds the native addon from source (`npm run build`, `npm run build:debug`, and before
// `npm test`): `napi build --platform` with the arguments given. Without a Rust toolchain it says
// what to install, instead of failing deep inside cargo.
'use strict';

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
if (cargo.error || cargo.status !== 0) {
  console.error(
    [
      'backend-scripts: building the native addon from source needs Rust, and `cargo` is not on PATH.',
      '',
      'Install the stable toolchain from https://rustup.rs (`curl https://sh.rustup.rs -sSf | sh`), and a C',
      'compiler (Debian/Ubuntu: `apt-get install build-essential`; macOS: `xcode-select --install`; Windows:',
      'the Visual Studio Build Tools with "Desktop development with C++"), then run this again. A release build',
      'takes about 15 minutes on 2 cores.',
      '',
      'To use the package without building it, install it from npm (`npm install backend-scripts`): it comes',
      'with prebuilt binaries for Linux (x64, arm64; glibc and musl), macOS (x64, arm64) and Windows (x64, arm64).',
    ].join('\n'),
  );
  process.exit(1);
}

const napi = path.join(path.dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js');
const build = spawnSync(process.execPath, [napi, 'build', '--platform', ...process.argv.slice(2)], { stdio: 'inherit' });
if (build.error) throw build.error;
process.exit(build.status ?? 1);

#!/usr/bin/env node
// Packs the package as the release publishes it, for the platform built here: the platform
// package npm/<platform>/ with the binary from the repository's root (what `napi artifacts` puts
// there in the release workflow), and the main package with every platform package in its
// optionalDependencies at its own version (what `napi pre-publish` adds before `npm publish`).
// The repository is left as it was: the main package is packed from a staged copy.
// Usage: node scripts/pack.js OUT_DIR  — prints one JSON line per tarball.
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const pkg = require('../package.json');

const out = path.resolve(process.argv[2] ?? '');
if (!process.argv[2]) {
  console.error('usage: node scripts/pack.js OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });

/** `npm pack` of `dir` into `out`; returns what npm says about the tarball. */
function npmPack(dir) {
  const json = execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: dir, encoding: 'utf8' });
  const [info] = JSON.parse(json);
  return { file: path.join(out, info.filename), size: info.size, unpackedSize: info.unpackedSize, files: info.entryCount };
}

const platforms = fs.readdirSync(path.join(ROOT, 'npm')).sort();
const built = platforms.filter((p) => fs.existsSync(path.join(ROOT, `${pkg.napi.binaryName}.${p}.node`)));
if (built.length === 0) {
  console.error(`scripts/pack.js: no ${pkg.napi.binaryName}.<platform>.node in ${ROOT}; run \`npm run build\` first`);
  process.exit(1);
}

const packed = [];
for (const platform of built) {
  const binary = `${pkg.napi.binaryName}.${platform}.node`;
  const dir = path.join(ROOT, 'npm', platform);
  fs.copyFileSync(path.join(ROOT, binary), path.join(dir, binary));
  try {
    packed.push(npmPack(dir));
  } finally {
    fs.rmSync(path.join(dir, binary));
  }
}

const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-scripts-pack-'));
try {
  for (const entry of [...pkg.files, 'README.md']) fs.cpSync(path.join(ROOT, entry), path.join(stage, entry), { recursive: true });
  const optionalDependencies = Object.fromEntries(platforms.map((p) => [`${pkg.name}-${p}`, pkg.version]));
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify({ ...pkg, optionalDependencies }, null, 2) + '\n');
  packed.push(npmPack(stage));
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
}

for (const tarball of packed) console.log(JSON.stringify(tarball));

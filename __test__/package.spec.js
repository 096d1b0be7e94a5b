'use strict';

// The package as a user installs and imports it: named exports from CommonJS and ESM,
// ScriptError and its codes, results told apart by `action`, the per-platform packages, and
// what the loader says when no binary fits the machine.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const backend = require('..');
const { ScriptError, SCRIPT_ERROR_CODES } = backend;
const { renderPage, runBackendScript } = backend;
const { failureOf } = require('./support/scripts');

const ROOT = path.join(__dirname, '..');
const pkg = require('../package.json');
const NAMES = ['runBackendScript', 'renderPage', 'backendScripts', 'startEgressProxy', 'configure', 'executorStats', 'ScriptError'];

/** Runs `source` as an ES module from the package's own folder, where `backend-scripts` names the package itself. */
function runModule(source) {
  return execFileSync(process.execPath, ['--input-type=module', '-e', source], { cwd: ROOT, encoding: 'utf8' });
}

describe('the entry point', () => {
  it('gives every export its own name in CommonJS', () => {
    for (const name of NAMES) expect(typeof backend[name]).toBe('function');
    expect(SCRIPT_ERROR_CODES).toContain('ERR_SCRIPT_TIMEOUT');
  });

  it('gives ESM every named export at run time, and they work', () => {
    const out = runModule(`
      import { ${NAMES.join(', ')} } from 'backend-scripts';
      import cjs from 'backend-scripts';
      const same = ${JSON.stringify(NAMES)}.every((n) => cjs[n] === { ${NAMES.join(', ')} }[n]);
      const ran = await runBackendScript('setVariable("x", 1 + 1)');
      const page = await renderPage('<script scope="backend">redirect("/login")</script>');
      const failed = await runBackendScript('throw new Error("no")').catch((e) => e);
      console.log(JSON.stringify({ same, x: ran.variables.x, page: [page.action, page.headers.location],
        failed: [failed instanceof ScriptError, failed.code], stats: typeof executorStats().threads,
        configure: typeof configure, proxy: typeof startEgressProxy, middleware: typeof backendScripts({ root: '.' }) }));
    `);
    expect(JSON.parse(out)).toEqual({
      same: true,
      x: 2,
      page: ['redirect', '/login'],
      failed: [true, 'ERR_SCRIPT_EXCEPTION'],
      stats: 'number',
      configure: 'function',
      proxy: 'function',
      middleware: 'function',
    });
  });

  it('exposes only its entry point and package.json to other packages', () => {
    expect(() => runModule(`await import('backend-scripts/lib/middleware.js')`)).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
    expect(runModule(`import p from 'backend-scripts/package.json' with { type: 'json' }; console.log(p.name)`).trim()).toBe(
      'backend-scripts',
    );
  });
});

describe('ScriptError', () => {
  it('is what a failed execution rejects with, for instanceof too', async () => {
    const error = await failureOf(runBackendScript('while (true) {}', null, null, { cpuTimeMs: 50 }));
    expect(error instanceof ScriptError).toBe(true);
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_TIMEOUT', logs: [] });
  });

  it('is what a failing template rejects with', async () => {
    const error = await failureOf(renderPage('<p>{{ var.x | nosuchfilter }}</p>'));
    expect(error instanceof ScriptError).toBe(true);
    expect(error.code).toBe('ERR_PAGE_TEMPLATE');
  });

  it('is not a bad argument, nor any error that merely looks like one', async () => {
    const error = await failureOf(runBackendScript(42));
    expect(error.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(error instanceof ScriptError).toBe(false);
    expect({ code: 'ERR_SCRIPT_TIMEOUT', message: 'a plain object' } instanceof ScriptError).toBe(false);
    expect(Object.assign(new Error('x'), { code: 'ERR_SOMETHING_ELSE' }) instanceof ScriptError).toBe(false);
  });

  it('can be made by a site, with a code from the list only', () => {
    const error = new ScriptError('script exceeded its CPU time limit of 5 ms', { code: 'ERR_SCRIPT_TIMEOUT', line: 3 });
    expect(error).toBeInstanceOf(Error);
    expect(error instanceof ScriptError).toBe(true);
    expect(error).toMatchObject({ name: 'ScriptError', code: 'ERR_SCRIPT_TIMEOUT', line: 3, column: null, logs: [] });
    expect(() => new ScriptError('x', { code: 'ERR_NOPE' })).toThrow(/code must be one of ERR_SCRIPT_SYNTAX, .*Received "ERR_NOPE"/);
  });
});

describe('the list of error codes', () => {
  it("is the union napi generates from the addon's ErrorCode enum, code for code", () => {
    const dts = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8');
    const start = dts.indexOf('export type ErrorCode =');
    const union = dts.slice(start, dts.indexOf('\n', start));
    expect([...union.matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1])).toEqual([...SCRIPT_ERROR_CODES]);
  });

  it('holds every code the addon and the middleware fail executions and pages with', () => {
    const sources = [path.join(ROOT, 'lib', 'middleware.js')];
    const walk = (dir) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name.endsWith('.rs')) sources.push(file);
      }
    };
    walk(path.join(ROOT, 'src'));
    const raised = new Set(
      sources.flatMap((file) => [...fs.readFileSync(file, 'utf8').matchAll(/["'](ERR_(?:SCRIPT|PAGE)_[A-Z_]+)["']/g)].map((m) => m[1])),
    );
    expect(raised.size).toBeGreaterThan(5);
    expect([...raised].filter((code) => !SCRIPT_ERROR_CODES.includes(code))).toEqual([]);
  });
});

describe('results', () => {
  it('say by their action which fields hold what', async () => {
    const redirect = await runBackendScript('redirect("/login")');
    expect(redirect).toMatchObject({ action: 'redirect', status: 302, location: '/login', body: null });
    const send = await runBackendScript('response.send("hi")');
    expect(send).toMatchObject({ action: 'send', status: null, location: null, body: 'hi' });
    const render = await runBackendScript('response.status(404)');
    expect(render).toMatchObject({ action: 'render', status: 404, location: null, body: null });
  });

  it('of a page say their action too', async () => {
    const page = (script) => renderPage(`<script scope="backend">${script}</script><p>page</p>`);
    expect(await page('redirect("/login", 303)')).toMatchObject({
      action: 'redirect',
      status: 303,
      headers: { location: '/login' },
      body: '',
    });
    expect(await page('response.json({ a: 1 })')).toMatchObject({ action: 'send', status: 200, body: '{"a":1}' });
    expect(await page('')).toMatchObject({ action: 'render', status: 200, body: '<p>page</p>' });
  });
});

describe('the per-platform packages', () => {
  const platformName = (triple) => {
    const [arch, , sys, abi] = triple.split('-');
    const cpu = { x86_64: 'x64', aarch64: 'arm64' }[arch];
    if (sys === 'darwin') return `darwin-${cpu}`;
    if (sys === 'windows') return `win32-${cpu}-${abi}`;
    return `linux-${cpu}-${abi}`;
  };

  it('are one folder under npm/ for each target the package lists, and no more', () => {
    const dirs = fs.readdirSync(path.join(ROOT, 'npm')).sort();
    expect(dirs).toEqual(pkg.napi.targets.map(platformName).sort());
  });

  it.each(fs.readdirSync(path.join(ROOT, 'npm')))('%s holds only its binary, at the package’s version, for its platform', (dir) => {
    const platform = require(path.join(ROOT, 'npm', dir, 'package.json'));
    const binary = `${pkg.napi.binaryName}.${dir}.node`;
    expect(platform).toMatchObject({
      name: `${pkg.name}-${dir}`,
      version: pkg.version,
      main: binary,
      files: [binary],
      engines: pkg.engines,
    });
    expect(platform.os).toEqual([dir.split('-')[0]]);
    expect(platform.cpu).toEqual([dir.split('-')[1]]);
    if (dir.startsWith('linux-')) expect(platform.libc).toEqual([dir.endsWith('-musl') ? 'musl' : 'glibc']);
    expect(platform.scripts).toBeUndefined();
  });

  it('leave nothing to run at install: no install scripts in the package', () => {
    const lifecycle = ['preinstall', 'install', 'postinstall', 'prepare', 'preprepare', 'postprepare'];
    expect(Object.keys(pkg.scripts).filter((s) => lifecycle.includes(s))).toEqual([]);
    expect(pkg.files.some((f) => f.endsWith('.node'))).toBe(false);
  });
});

describe('without a binary for the machine', () => {
  // The package as installed, without its binary: the loader, the entry point and a manifest.
  function installedWithout(optionalDependencies) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-scripts-nobinary-'));
    fs.cpSync(path.join(ROOT, 'lib'), path.join(dir, 'lib'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'index.js'), path.join(dir, 'index.js'));
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ ...pkg, optionalDependencies }));
    const run = spawnSync(process.execPath, ['-e', 'require(".")'], { cwd: dir, encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    return run;
  }
  const here = `${process.platform}-${process.arch}`;
  const published = (names) => Object.fromEntries(names.map((n) => [`${pkg.name}-${n}`, pkg.version]));

  it('names the platform, the package it looked for, and how to reinstall or build', () => {
    const platforms = pkg.napi.targets.length;
    const run = installedWithout(published(fs.readdirSync(path.join(ROOT, 'npm'))));
    expect(platforms).toBeGreaterThan(1);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(`backend-scripts: the native addon for ${here}`);
    expect(run.stderr).toMatch(
      new RegExp(`looked for the package backend-scripts-${here}-(gnu|musl)@${pkg.version.replace(/\./g, '\\.')}`),
    );
    expect(run.stderr).toContain('Reinstall without --omit=optional');
    expect(run.stderr).toContain('install Rust (stable, from https://rustup.rs) and a C compiler');
    expect(run.stderr).toContain("code: 'ERR_BACKEND_SCRIPTS_NO_BINARY'");
    expect(run.stderr).not.toContain('npm has a bug');
  });

  it('on a platform nothing is published for, lists the ones there are and how to build from source', () => {
    const run = installedWithout(published(['darwin-arm64', 'win32-x64-msvc']));
    expect(run.stderr).toContain(`there is no prebuilt native addon for ${here}`);
    expect(run.stderr).toContain('prebuilt ones exist for darwin-arm64, win32-x64-msvc only');
    expect(run.stderr).toContain('run `npm install && npm run build` in it (about 15 minutes on 2 cores)');
  });

  it('in a clone of the repository, says to build it', () => {
    const run = installedWithout(undefined);
    expect(run.stderr).toContain('the native addon is not built');
    expect(run.stderr).toContain('run `npm run build`');
  });
});

describe('building from source without Rust', () => {
  it('says what to install, in plain words and without a stack trace', () => {
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-scripts-norust-'));
    const run = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.js'), '--release'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, PATH: bare },
    });
    fs.rmSync(bare, { recursive: true, force: true });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('building the native addon from source needs Rust, and `cargo` is not on PATH');
    expect(run.stderr).toContain('https://rustup.rs');
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });
});

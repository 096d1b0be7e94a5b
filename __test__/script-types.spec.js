'use strict';

// `backend-scripts/script`: the types of the script globals, for editors. Sample scripts are
// type-checked by the real `tsc` in a folder that installs the package the way a site does
// (node_modules/backend-scripts), and every diagnostic is compared with the one expected.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');

const ROOT = path.join(__dirname, '..');
const TSC = path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
const run = promisify(execFile);

// What the README recommends for a folder of scripts.
const JSCONFIG = {
  compilerOptions: {
    checkJs: true,
    strict: true,
    noEmit: true,
    lib: ['es2023'],
    types: ['backend-scripts/script'],
    moduleDetection: 'force',
  },
};

/** Writes `files` in a fresh folder where the package is installed; returns the folder. */
function project(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-scripts-types-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'backend-scripts'), 'dir');
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

/**
 * Runs tsc in `dir` with `args`; resolves with its diagnostics as `file:line TScode` strings,
 * sorted (the first line of each; continuation lines explain, they do not add errors).
 */
async function typeCheck(dir, args) {
  const { stdout } = await run(process.execPath, [TSC, '--pretty', 'false', ...args], { cwd: dir }).catch((error) => {
    if (typeof error.stdout !== 'string' || ![1, 2].includes(error.code)) throw error; // errors were reported (1 from tsc 7, 2 before)
    return error;
  });
  return stdout
    .split('\n')
    .map((line) => /^(.+?)\((\d+),\d+\): error (TS\d+):/.exec(line))
    .filter(Boolean)
    .map(([, file, line, code]) => `${file}:${line} ${code}`)
    .sort();
}

/** The diagnostics a sample expects: a `// TS1234` comment at the end of each line that must fail. */
function expectedDiagnostics(file, source) {
  return source
    .split('\n')
    .flatMap((line, i) => [...line.matchAll(/\/\/.*?\b(TS\d+)/g)].map((m) => `${file}:${i + 1} ${m[1]}`))
    .sort();
}

/** A page's backend blocks as one script, each block at its own lines of the page. */
function scriptOfPage(html) {
  const lines = html.split('\n').map(() => '');
  for (const match of html.matchAll(/<script scope="backend">([\s\S]*?)<\/script>/g)) {
    const first = html.slice(0, match.index + '<script scope="backend">'.length).split('\n').length - 1;
    match[1].split('\n').forEach((line, i) => (lines[first + i] += line));
  }
  return lines.join('\n');
}

const dirs = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
function tempProject(files) {
  const dir = project(files);
  dirs.push(dir);
  return dir;
}

// A tsc run takes a few seconds on a busy machine.
jest.setTimeout(120000);

const DEMO_PAGES = path.join(ROOT, 'demo', 'pages');

/** Every demo page's backend script, as `welcome.html.js`, `api-me.html.js`, … */
function demoScripts() {
  const files = {};
  for (const name of fs.readdirSync(DEMO_PAGES, { recursive: true })) {
    if (name.endsWith('.html'))
      files[`${name.replaceAll(path.sep, '-')}.js`] = scriptOfPage(fs.readFileSync(path.join(DEMO_PAGES, name), 'utf8'));
  }
  return files;
}

const GOOD = `
  const token = request.query.token;
  if (typeof token !== 'string') redirect('/login');
  const length = token.length;
  if (!http) throw new Error('this page needs the egress proxy');
  const check = http.post('https://auth.example.com/validate', { token }, { 'x-site': 'shop' });
  const status = check.status, body = check.body, error = check.error;
  const again = http.request('put', 'https://api.example.com/a', 'text');
  if (again.status === 0) response.status(502).setHeader('retry-after', 30).send(again.error);
  const user = session.get('user');
  if (user) setVariable('user_name', user.name);
  session.set('visits', (session.get('visits') ?? 0) + 1);
  const removed = session.delete('visits') === true;
  setVariable('seen', getVariable('seen') ?? []);
  cookie.set('last', new Date().toISOString(), { maxAge: 86400000, sameSite: 'Strict', httpOnly: false });
  cookie.set('cross', 'site', { secure: true, sameSite: 'none' });
  cookie.delete('last', { path: '/' });
  console.log('%s has %d visits', request.headers['user-agent'], 2);
  console.debug(request.method, request.url, request.path, request.ip, request.params.id, request.cookies.sid, request.body);
  if (request.method === 'POST') response.json({ length, status, body, error, removed });
  response.status(201);
`;

const WRONG = [
  `http?.get(1); // TS2345: a URL is a string`,
  `redirect(301); // TS2345: the URL first`,
  `redirect('/next', 200); // TS2345: not a redirect status`,
  `response.status('x'); // TS2345: a number`,
  `response.setHeader('x-a', true); // TS2345`,
  `response.send({ a: 1 }); // TS2345: json sends data`,
  `http?.request('TRACE', 'https://example.com/'); // TS2345: not a method it supports`,
  `http?.get('https://example.com/', { 'x-a': ['1'] }); // TS2322: header values are strings`,
  `cookie.set('a', 'b', { sameSite: 'none' }); // TS2345: 'none' requires secure`,
  `cookie.set('a', 'b', { expires: 1 }); // TS2353: not a cookie option`,
  `cookie.set('a', 5); // TS2345`,
  `cookie.delete('a', { maxAge: 1 }); // TS2353`,
  `session.get(1); // TS2769`,
  `setVariable('f', () => 1); // TS2769: a function cannot be copied`,
  `session.set('n', 10n); // TS2769: nor a BigInt`,
  `request.method = 'POST'; // TS2540: the request is frozen`,
  `request.query.token = 'x'; // TS2542`,
  `request = {}; // TS2588`,
  `setTimeout(() => {}, 1); // TS2304: no timers`,
  `fetch('https://example.com/'); // TS2304: no fetch`,
  `process.exit(1); // TS2591: no process`,
  `document.title; // TS2584: no DOM`,
  `listEntries('random', 5); // TS2345: the site's own function, as demo/site.d.ts declares it`,
  `addEntry({ name: 'Ada' }); // TS2739: fields missing`,
  `import { isPhone } from 'validators'; // TS2305: a shared module, as demo/site.d.ts declares it`,
].join('\n');

const NO_PROXY = `const r = http.get('https://example.com/'); // TS18048\nconst s = http?.get('https://example.com/').status;\n`;

/** The jsconfig project's diagnostics; tsc runs once for all its samples. */
let jsconfigProject;
function diagnosticsOf(file) {
  jsconfigProject ??= typeCheck(
    tempProject({
      'jsconfig.json': JSON.stringify(JSCONFIG),
      // The demo's declarations of its own functions and modules, as a site writes them.
      'site.d.ts': fs.readFileSync(path.join(ROOT, 'demo', 'site.d.ts'), 'utf8'),
      ...demoScripts(),
      'good.js': GOOD,
      'wrong.js': WRONG,
      'no-proxy.js': NO_PROXY,
    }),
    ['-p', 'jsconfig.json'],
  );
  return jsconfigProject.then((all) => all.filter((d) => d.startsWith(`${file}:`)));
}

describe('the script types (backend-scripts/script)', () => {
  it('are shipped in the package', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
    const [{ files }] = JSON.parse(stdout);
    expect(files.map((f) => f.path)).toContain('script.d.ts');
  });

  it('accept every script of the demo, checked with the jsconfig.json the README gives', async () => {
    const scripts = Object.keys(demoScripts());
    expect(scripts).toEqual(expect.arrayContaining(['welcome.html.js', 'visits.html.js', 'guestbook.html.js', 'api-me.html.js']));
    for (const file of scripts) expect(await diagnosticsOf(file)).toEqual([]);
  });

  it('know what every global takes and gives, and narrow after redirect, send and json', async () => {
    expect(await diagnosticsOf('good.js')).toEqual([]);
  });

  it('catch wrong calls, writes to the request, and what a sandbox does not have', async () => {
    expect(await diagnosticsOf('wrong.js')).toEqual(expectedDiagnostics('wrong.js', WRONG));
  });

  it('say that http may be undefined, when the site gives no egress proxy', async () => {
    expect(await diagnosticsOf('no-proxy.js')).toEqual(expectedDiagnostics('no-proxy.js', NO_PROXY));
  });

  // An editor without a jsconfig.json also loads the DOM's types: the two must agree (the first
  // run); the package is found by every module resolution (the others).
  it.each([
    [[]],
    [['--lib', 'es2023', '--module', 'nodenext', '--moduleResolution', 'nodenext']],
    [['--lib', 'es2023', '--module', 'esnext', '--moduleResolution', 'bundler']],
  ])('work from a /// <reference types> line alone (tsc %j)', async (options) => {
    const script = [
      '// @ts-check',
      '/// <reference types="backend-scripts/script" />',
      `setVariable('name', typeof request.query.name === 'string' ? request.query.name : 'visitor');`,
      `console.log(session.get('user'));`,
      `response.status('x'); // TS2345`,
    ].join('\n');
    const dir = tempProject({ 'page.js': script });
    // Not checking the TypeScript's own lib files saves most of the time; script.d.ts is checked.
    const diagnostics = await typeCheck(dir, ['--noEmit', '--allowJs', '--checkJs', '--skipDefaultLibCheck', ...options, 'page.js']);
    expect(diagnostics).toEqual(expectedDiagnostics('page.js', script));
  });

  it('let a site type its session, its variables, its host functions and its modules', async () => {
    const site = `
      declare namespace BackendScripts {
        interface Session { user: { name: string }; visits: number }
        interface Variables { validateUrl: string }
      }
      /** Orders of the signed-in customer, newest or oldest first. */
      declare function getOrders(sortBy: 'newest' | 'oldest', limit: number): Array<{ id: number; total: number }>;
      declare module 'validators' {
        export function isEmail(value: string): boolean;
      }
    `;
    const script = [
      `import { isEmail } from 'validators';`,
      `const user = session.get('user');`,
      `const name = user?.name.toUpperCase();`,
      `session.set('visits', 'many'); // TS2769: visits is a number`,
      `session.set('other', 'anything goes for keys the site did not list');`,
      `const url = getVariable('validateUrl');`,
      `url.length; // TS18047: null when absent`,
      `setVariable('validateUrl', 42); // TS2769`,
      `const total = getOrders('newest', 10)[0].total + 1;`,
      `getOrders(10); // TS2554`,
      `isEmail(name ?? '');`,
      `isEmail(1); // TS2345`,
    ].join('\n');
    const config = { ...JSCONFIG, compilerOptions: { ...JSCONFIG.compilerOptions, module: 'esnext', moduleResolution: 'bundler' } };
    const dir = tempProject({ 'jsconfig.json': JSON.stringify(config), 'site.d.ts': site, 'page.js': script });
    expect(await typeCheck(dir, ['-p', 'jsconfig.json'])).toEqual(expectedDiagnostics('page.js', script));
  });
});

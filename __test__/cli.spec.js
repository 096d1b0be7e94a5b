'use strict';

// The `backend-scripts` command line, run as a user runs it: the real bin in a child process, on
// real files in a temporary folder.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startEgressProxy } = require('../lib');
const { writePages } = require('./support/site');
const { startUpstream } = require('./support/upstream');

const BIN = path.join(__dirname, '..', 'bin', 'backend-scripts.js');

/** Runs the bin; resolves with its exit status and output, whatever the status. */
function cli(args, { cwd } = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? error.code : 0, stdout, stderr });
    });
  });
}

describe('backend-scripts --help', () => {
  it('describes both commands and their options, and exits 0', async () => {
    const { status, stdout } = await cli(['--help']);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage: backend-scripts <command>/);
    for (const word of ['check <folder or page>', 'render <page>', '--query', '--method', '--body', '--session', '--proxy', '--json']) {
      expect(stdout).toContain(word);
    }
  });

  it('refuses an unknown command or option with exit status 2', async () => {
    const unknown = await cli(['deploy']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command "deploy"');
    const option = await cli(['check', '--fast', '.']);
    expect(option.status).toBe(2);
    expect(option.stderr).toMatch(/--fast/);
  });
});

describe('backend-scripts check', () => {
  let root;

  beforeAll(() => {
    root = writePages({
      'index.html': '<h1>{{ var.title }}</h1><script scope="backend">setVariable("title", "Home")</script>',
      'shop/cart.html': '<p>\n<script scope="backend">\nconst total = ;\n</script>\n{{ var.total }}',
      'shop/list.html': '<ul>\n{% for item in var.items %}\n<li>{{ item }}</li>\n',
      'both.html': '<script scope="backend">if (</script>\n{{ var.x + }}',
      'never-runs.html': '<script scope="backend">while (true) {} throw new Error("ran")</script>ok',
      'notes.txt': 'not a page {{',
      '.drafts/broken.html': '{% if %}',
    });
  });

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('prints file:line:column: message for every error, and exits 1', async () => {
    const { status, stdout, stderr } = await cli(['check', '.'], { cwd: root });
    expect(status).toBe(1);
    const lines = stdout.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^both\.html:1:\d+: script has a syntax error .*$/),
      expect.stringMatching(/^both\.html:2: page template error on line 2: syntax error/),
      expect.stringMatching(/^shop\/cart\.html:3:15: script has a syntax error/),
      expect.stringMatching(/^shop\/list\.html:3: page template error on line 3: syntax error: unexpected end of input/),
    ]);
    expect(stderr).toMatch(/5 pages checked, 4 errors in 3 pages/);
  });

  it('runs nothing: a page that would loop for ever checks fine at once', async () => {
    const { status, stdout } = await cli(['check', path.join(root, 'never-runs.html'), path.join(root, 'index.html')]);
    expect([status, stdout]).toEqual([0, '']);
  });

  it('checks files named on the command line whatever their extension, and folders for --ext', async () => {
    const named = await cli(['check', 'notes.txt'], { cwd: root });
    expect(named.status).toBe(1);
    expect(named.stdout).toMatch(/^notes\.txt:1: page template error/);
    const txt = await cli(['check', '--ext', 'txt', '.'], { cwd: root });
    expect(txt.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('exits 2 for a path that does not exist, or nothing to check', async () => {
    const missing = await cli(['check', 'nope'], { cwd: root });
    expect([missing.status, missing.stderr]).toEqual([2, expect.stringContaining('nope: no such file or folder')]);
    expect((await cli(['check'])).status).toBe(2);
  });

  it('checks 300 pages fast enough for a pre-commit hook', async () => {
    const many = {};
    for (let i = 0; i < 300; i++) {
      many[`section-${i % 10}/page-${i}.html`] = `<!doctype html>
<title>{{ var.title }} {{ ${i} }}</title>
<script scope="backend">
  const visits = (session.get('visits') ?? 0) + 1;
  session.set('visits', visits);
  const items = [];
  for (let n = 0; n < ${i % 20}; n++) items.push({ id: n, name: 'item ' + n });
  setVariable('title', 'Page ${i}');
  setVariable('items', items);
</script>
<ul>{% for item in var.items %}<li>{{ item.id }}: {{ item.name|upper }}</li>{% endfor %}</ul>
${i === 150 ? '<script scope="backend">setVariable("x", ;)</script>' : ''}`;
    }
    const dir = writePages(many);
    const started = Date.now();
    const { status, stdout, stderr } = await cli(['check', dir]);
    const elapsed = Date.now() - started;
    expect(status).toBe(1);
    expect(stdout).toMatch(/page-150\.html:12:\d+: script has a syntax error/);
    expect(stderr).toMatch(/300 pages checked, 1 error in 1 page/);
    // Node's start-up included: 3 to 5 s on a debug build on two busy cores, far less in release.
    expect(elapsed).toBeLessThan(15_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('backend-scripts with --modules', () => {
  let dir;
  beforeAll(() => {
    dir = writePages({
      'modules/validators.js': "export const isEmail = (s) => s.includes('@');",
      'pages/good.html':
        "<p>{{ var.ok }}</p>\n<script scope=\"backend\">\nimport { isEmail } from 'validators';\nsetVariable('ok', isEmail(request.query.e ?? ''));\n</script>",
      'pages/typo.html': '<script scope="backend">\n\nimport { isEmail } from \'validatorz\';\n</script>',
      'broken/bad.js': 'export const = 1;',
    });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('check reports an import of a module that does not exist at its line, and passes the others', async () => {
    const { status, stdout } = await cli(['check', 'pages', '--modules', 'modules'], { cwd: dir });
    expect(status).toBe(1);
    expect(stdout).toBe(
      `${path.join('pages', 'typo.html')}:3: cannot import "validatorz" (line 3): no shared module has that name (the modules are validators)\n`,
    );
  });

  it('check reports a module that does not compile at its file, line and column', async () => {
    const { status, stdout } = await cli(['check', 'pages', '--modules', 'broken'], { cwd: dir });
    expect(status).toBe(1);
    expect(stdout).toMatch(new RegExp(`^${path.join('broken', 'bad.js')}:1:14: module bad has a syntax error`));
  });

  it('render runs a page that imports a module', async () => {
    const { status, stdout } = await cli(['render', 'pages/good.html', '--modules', 'modules', '--query', 'e=a@b'], { cwd: dir });
    expect(status).toBe(0);
    expect(stdout).toContain('<p>true</p>');
  });
});

describe('backend-scripts render', () => {
  let root;
  let upstream;
  let proxy;
  const credentials = { username: 'cli', password: 'cli-secret' };

  beforeAll(async () => {
    upstream = await startUpstream();
    proxy = await startEgressProxy({ credentials: [credentials], allowedRanges: ['127.0.0.0/8'] });
    root = writePages({
      'welcome.html': `<script scope="backend">
  console.log('query', JSON.stringify(request.query));
  if (!request.query.token) redirect('/login');
  session.set('visits', (session.get('visits') ?? 0) + 1);
  cookie.set('seen', 'yes');
  setVariable('name', session.get('user') ?? 'visitor');
</script><p>Hello, {{ var.name }}</p>`,
      'form.html': `<script scope="backend">response.json({ method: request.method, body: request.body, path: request.path })</script>`,
      'fetch.html': `<script scope="backend">const res = http.get(getVariable('url')); response.json({ status: res.status, body: JSON.parse(res.body) })</script>`,
      'fails.html': '<p>\n<script scope="backend">\nnull.boom\n</script>',
    });
  });

  afterAll(async () => {
    fs.rmSync(root, { recursive: true, force: true });
    await proxy.close();
    await upstream.close();
  });

  it('prints the status, headers, cookies and body of the rendered page, and the logs on stderr', async () => {
    const { status, stdout, stderr } = await cli(['render', 'welcome.html', '--query', 'token=abc', '--session', '{"user":"Ada <3"}'], {
      cwd: root,
    });
    expect(status).toBe(0);
    expect(stdout).toBe(
      'HTTP 200\ncontent-type: text/html; charset=utf-8\nset-cookie: seen=yes; Path=/; HttpOnly; SameSite=Lax\n\n<p>Hello, Ada &lt;3</p>\n',
    );
    expect(stderr).toBe('[log] query {"token":"abc"}\n');
  });

  it('prints a redirect as the response a browser would get', async () => {
    const { status, stdout } = await cli(['render', 'welcome.html'], { cwd: root });
    expect(status).toBe(0);
    expect(stdout).toMatch(/^HTTP 302\n(.*\n)*location: \/login\n/);
  });

  it('gives the whole result with --json: variables, session changes, cookies, logs and stats', async () => {
    const { status, stdout } = await cli(['render', 'welcome.html', '--query', 'token=1', '--json'], { cwd: root });
    expect(status).toBe(0);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({
      action: 'render',
      status: 200,
      variables: { name: 'visitor' },
      sessionChanges: { set: { visits: 1 }, deleted: [] },
      cookies: [expect.objectContaining({ name: 'seen', value: 'yes' })],
      logs: [{ level: 'log', message: 'query {"token":"1"}' }],
      stats: { httpRequests: 0 },
    });
  });

  it('sends a POST with a form or JSON body', async () => {
    const form = await cli(['render', 'form.html', '--method', 'post', '--body', 'a=1&b=two'], { cwd: root });
    expect(JSON.parse(form.stdout.split('\n\n')[1])).toEqual({ method: 'POST', body: { a: '1', b: 'two' }, path: '/form' });
    const json = await cli(['render', 'form.html', '--method', 'POST', '--body', '{"n":[1,2]}', '--path', '/api/form'], { cwd: root });
    expect(JSON.parse(json.stdout.split('\n\n')[1])).toEqual({ method: 'POST', body: { n: [1, 2] }, path: '/api/form' });
  });

  it('reaches the network only through the --proxy it is given', async () => {
    const proxyUrl = new URL(proxy.url);
    proxyUrl.username = credentials.username;
    proxyUrl.password = credentials.password;
    const args = ['render', 'fetch.html', '--variables', JSON.stringify({ url: `${upstream.url}/json` }), '--allowed-range', '127.0.0.0/8'];
    const through = await cli([...args, '--proxy', proxyUrl.href], { cwd: root });
    expect([through.status, through.stderr]).toEqual([0, '']);
    expect(JSON.parse(through.stdout.split('\n\n')[1])).toEqual({ status: 200, body: { ok: true, items: [1, 2, 3] } });
    expect(upstream.hits.some((hit) => hit.url === '/json')).toBe(true);
    const without = await cli(['render', 'fetch.html', '--variables', JSON.stringify({ url: `${upstream.url}/json` })], { cwd: root });
    expect(without.status).toBe(1);
    expect(without.stderr).toMatch(/fetch\.html:1:\d+: ERR_SCRIPT_EXCEPTION: /);
  });

  it('reports a failing page with file:line:column and exits 1', async () => {
    const { status, stdout, stderr } = await cli(['render', 'fails.html'], { cwd: root });
    expect([status, stdout]).toEqual([1, '']);
    expect(stderr).toMatch(/^fails\.html:3:\d+: ERR_SCRIPT_EXCEPTION: script threw an uncaught TypeError/);
  });

  it.each([
    [['render'], 'render needs exactly one page'],
    [['render', 'missing.html'], 'missing.html: cannot be read: no such file'],
    [['render', 'form.html', '--method', 'PUT'], '--method must be GET, HEAD or POST'],
    [['render', 'form.html', '--query', 'novalue'], '--query takes NAME=VALUE'],
    [['render', 'form.html', '--session', '[1]'], '--session must be a JSON object'],
    [['render', 'form.html', '--session', '{nope'], '--session must be a JSON object'],
    [['render', 'form.html', '--body', '{broken'], '--body looks like JSON but does not parse'],
    [['render', 'form.html', '--proxy', 'not a url'], '--proxy must be a URL'],
    [['render', 'form.html', '--allowed-range', '127.0.0.0/8'], '--allowed-range needs --proxy'],
    [['render', 'form.html', '--cpu-time-ms', '0'], '--cpu-time-ms must be a positive integer'],
  ])('exits 2 with a clear message for %j', async (args, message) => {
    const { status, stderr } = await cli(args, { cwd: root });
    expect(status).toBe(2);
    expect(stderr).toContain(message);
  });
});

'use strict';

// backendScripts(): the Express middleware, against a real Express app with express-session.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const express = require('express');
const request = require('supertest');
const { backendScripts, configure, startEgressProxy } = require('../lib');
const { writePages, siteApp } = require('./support/site');
const { startUpstream } = require('./support/upstream');
const { startRecordedEgress } = require('./support/egress');

const SECRET = 'sk-live-do-not-leak';
const ECHO = '<script scope="backend">response.json(request)</script>';

/** A page that says which file served it. */
const marker = (name) => `<p>{{ var.served }}</p><script scope="backend">setVariable('served', ${JSON.stringify(name)})</script>`;

describe('backendScripts routing', () => {
  let parent;
  let root;
  let app;

  beforeAll(() => {
    // parent/ holds files outside the root that no request may reach.
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-scripts-routing-'));
    writePages({ 'outside.html': marker('outside'), 'outside-dir/page.html': marker('outside-dir') }, parent);
    root = writePages(
      {
        'index.html': marker('index'),
        'welcome.html': marker('welcome'),
        'shop/index.html': marker('shop index'),
        'shop/item.html': marker('shop item'),
        'notes.txt': 'plain text',
        '.hidden.html': marker('dot-file'),
        '.private/page.html': marker('dot-folder'),
        'sub/.secret.html': marker('nested dot-file'),
        'echo.html': ECHO,
        'with space.html': marker('with space'),
      },
      path.join(parent, 'root'),
    );
    fs.symlinkSync(path.join(parent, 'outside.html'), path.join(root, 'leak.html'));
    fs.symlinkSync(path.join(parent, 'outside-dir'), path.join(root, 'linked'));
    fs.symlinkSync(path.join(root, 'welcome.html'), path.join(root, 'alias.html'));
    app = siteApp({ root });
  });

  afterAll(() => fs.rmSync(parent, { recursive: true, force: true }));

  it.each([
    ['/welcome', 'welcome'],
    ['/welcome.html', 'welcome'],
    ['/', 'index'],
    ['/shop/', 'shop index'],
    ['/shop/item', 'shop item'],
    ['/with%20space', 'with space'],
    ['/welcome?x=1', 'welcome'],
    ['/alias', 'welcome'],
  ])('serves %s from the page it maps to', async (url, served) => {
    const res = await request(app).get(url);
    expect(res.status).toBe(200);
    expect(res.text).toContain(`<p>${served}</p>`);
  });

  it.each([
    ['/missing'],
    ['/shop'], // shop.html does not exist; the folder is only served with its trailing slash
    ['/notes.txt'],
    ['/notes'],
    ['/welcome/'],
    ['/shop//item'],
  ])('leaves %s to the next handler', async (url) => {
    const res = await request(app).get(url);
    expect([res.status, res.text]).toEqual([404, 'not handled']);
  });

  it.each([
    ['/../outside'],
    ['/%2e%2e/outside'],
    ['/shop/..%2f..%2foutside'],
    ['/shop/%2e%2e%2f%2e%2e%2foutside'],
    ['/..%5coutside'],
    ['/shop%2fitem'],
    ['/leak'],
    ['/linked/page'],
    ['/welcome%00'],
    ['/%E0%A4%A'],
  ])('never leaves the root: %s', async (url) => {
    const res = await request(app).get(url);
    expect([res.status, res.text]).toEqual([404, 'not handled']);
  });

  it.each([['/.hidden'], ['/.hidden.html'], ['/.private/page'], ['/sub/.secret'], ['/%2ehidden']])(
    'never serves a dot-file or dot-folder: %s',
    async (url) => {
      const res = await request(app).get(url);
      expect([res.status, res.text]).toEqual([404, 'not handled']);
    },
  );

  it('serves GET, HEAD and POST, and leaves other methods to the next handler', async () => {
    expect((await request(app).get('/welcome')).status).toBe(200);
    const head = await request(app).head('/welcome');
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(head.text).toBeUndefined();
    const post = await request(app).post('/echo').type('form').send({ a: '1' });
    expect(post.body.method).toBe('POST');
    for (const method of ['put', 'delete', 'patch', 'options']) {
      expect((await request(app)[method]('/welcome')).text ?? '').not.toContain('<p>welcome</p>');
    }
  });

  it('refuses options it cannot use, when it is created', () => {
    expect(() => backendScripts()).toThrow(TypeError);
    expect(() => backendScripts({})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => backendScripts({ root: path.join(parent, 'no-such-folder') })).toThrow(/cannot be opened/);
    expect(() => backendScripts({ root: path.join(root, 'notes.txt') })).toThrow(/not a folder/);
    expect(() => backendScripts({ root, extensions: ['.html'] })).toThrow(/extensions/);
    expect(() => backendScripts({ root, index: '../x.html' })).toThrow(/index/);
  });
});

describe('backendScripts request, session and cookies', () => {
  let root;

  beforeAll(() => {
    root = writePages({
      'echo.html': ECHO,
      'visits.html': `<script scope="backend">
  const visits = (session.get('visits') ?? 0) + 1;
  session.set('visits', visits);
  setVariable('visits', visits);
</script>visits={{ var.visits }}`,
      'forget.html': `<script scope="backend">session.delete('user'); response.json(session.get('other'))</script>`,
      'session-own.html': `<script scope="backend">
  const seen = { cookie: session.get('cookie'), id: session.get('id') };
  session.set('cookie', 'overwritten');
  session.set('id', 'overwritten');
  session.set('mine', 1);
  response.json(seen);
</script>`,
      'set-cookie.html': `<script scope="backend">cookie.set('theme', 'dark mode', { maxAge: 60000, sameSite: 'strict' })</script>ok`,
      'clear-cookie.html': `<script scope="backend">cookie.delete('theme')</script>ok`,
      'steal-session.html': `<script scope="backend">session.set('x', 1); cookie.set('connect.sid', 'forged')</script>ok`,
    });
  });

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('builds the script request from the Express request', async () => {
    const app = siteApp({ root });
    const res = await request(app)
      .post('/echo?token=abc&list=1&list=2')
      .set('X-Custom', 'Yes')
      .set('Cookie', 'theme=dark; encoded=a%20b')
      .send({ hello: 'world' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      method: 'POST',
      url: '/echo?token=abc&list=1&list=2',
      path: '/echo',
      query: { token: 'abc', list: ['1', '2'] },
      params: {},
      cookies: { theme: 'dark', encoded: 'a b' },
      body: { hello: 'world' },
    });
    expect(res.body.headers['x-custom']).toBe('Yes');
    expect(res.body.ip).toMatch(/127\.0\.0\.1/);
  });

  it('reads form bodies, and gives a null body without a body parser', async () => {
    const form = await request(siteApp({ root })).post('/echo').type('form').send('token=abc');
    expect(form.body.body).toEqual({ token: 'abc' });
    const bare = express();
    bare.use(backendScripts({ root }));
    const res = await request(bare).post('/echo').send({ a: 1 });
    expect(res.body.body).toBeNull();
  });

  it('takes cookies from cookie-parser when it ran', async () => {
    const app = siteApp({
      root,
      before: (req, res, next) => {
        req.cookies = { parsed: 'by cookie-parser' };
        next();
      },
    });
    const res = await request(app).get('/echo').set('Cookie', 'theme=dark');
    expect(res.body.cookies).toEqual({ parsed: 'by cookie-parser' });
  });

  it('never shows the session cookie to a script', async () => {
    const agent = request.agent(siteApp({ root }));
    await agent.get('/visits');
    const res = await agent.get('/echo').set('Cookie', 'theme=dark');
    expect(res.body.cookies).not.toHaveProperty('connect.sid');
    expect(JSON.stringify(res.body)).not.toContain('connect.sid');
  });

  it('keeps session changes across requests through express-session', async () => {
    const agent = request.agent(siteApp({ root }));
    expect((await agent.get('/visits')).text).toBe('visits=1');
    expect((await agent.get('/visits')).text).toBe('visits=2');
    expect((await agent.get('/__session')).body).toMatchObject({ visits: 2, cookie: expect.any(Object) });
    // Another visitor has a session of their own.
    expect((await request.agent(siteApp({ root })).get('/visits')).text).toBe('visits=1');
  });

  it('applies deletions and leaves the keys the script did not touch', async () => {
    const agent = request.agent(siteApp({ root }));
    await agent.post('/__session').send({ user: 'Ada', other: 'kept' });
    const res = await agent.get('/forget');
    expect(res.body).toBe('kept');
    const session = (await agent.get('/__session')).body;
    expect(session).not.toHaveProperty('user');
    expect(session.other).toBe('kept');
  });

  it("neither shows nor writes express-session's own fields", async () => {
    const agent = request.agent(siteApp({ root }));
    await agent.post('/__session').send({ start: true });
    const before = (await agent.get('/__session')).body.cookie;
    const res = await agent.get('/session-own');
    expect(res.body).toEqual({ cookie: null, id: null });
    const after = (await agent.get('/__session')).body;
    expect(after.cookie).toEqual(before);
    expect(after.mine).toBe(1);
    // The session still works.
    expect((await agent.get('/visits')).text).toBe('visits=1');
    expect((await agent.get('/visits')).text).toBe('visits=2');
  });

  it('starts with an empty session and discards changes without session middleware', async () => {
    const app = siteApp({ root, withSession: false });
    expect((await request(app).get('/visits')).text).toBe('visits=1');
    const res = await request(app).get('/visits');
    expect(res.text).toBe('visits=1');
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('sets and clears cookies through res.cookie and res.clearCookie', async () => {
    const app = siteApp({ root });
    const set = await request(app).get('/set-cookie');
    expect(set.headers['set-cookie']).toEqual([
      expect.stringMatching(/^theme=dark%20mode; Max-Age=60; Path=\/; Expires=.*; HttpOnly; SameSite=Strict$/),
    ]);
    const cleared = await request(app).get('/clear-cookie');
    expect(cleared.headers['set-cookie']).toEqual([
      expect.stringMatching(/^theme=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/),
    ]);
  });

  it('refuses a script cookie named like the session cookie, and applies nothing', async () => {
    const agent = request.agent(siteApp({ root }));
    const res = await agent.get('/steal-session');
    expect(res.status).toBe(500);
    expect(res.body.code).toBe('ERR_PAGE_SESSION_COOKIE');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect((await agent.get('/__session')).body).not.toHaveProperty('x');
  });

  // A session change and a cookie first, then something Node, Express or the site's own res.cookie
  // would refuse: the visitor gets a 500, and nothing of the page is applied.
  it.each([
    ['a header value past U+00FF', `response.setHeader('x-note', 'café €')`, 'ERR_SCRIPT_EXCEPTION'],
    ['a cookie domain with a space', `cookie.set('b', '2', { domain: 'exa mple.com' })`, 'ERR_SCRIPT_EXCEPTION'],
    ['a cookie maxAge of 1e300', `cookie.set('b', '2', { maxAge: 1e300 })`, 'ERR_SCRIPT_EXCEPTION'],
    ['a cookie path outside ASCII', `cookie.set('b', '2', { path: '/é' })`, 'ERR_SCRIPT_EXCEPTION'],
    ['a status in 1xx', `response.status(101).send('')`, 'ERR_SCRIPT_EXCEPTION'],
    ['a cookie the site itself refuses', `cookie.set('b', '2')`, 'ERR_PAGE_RESPONSE'],
  ])('applies nothing of a page with %s', async (_what, line, code) => {
    const dir = writePages({ 'p.html': `<script scope="backend">session.set('n', 1); cookie.set('early', '1'); ${line}</script>ok` });
    // A site policy, as a security middleware would add one: every cookie must be Secure.
    const secureOnly = (req, res, next) => {
      res.cookie = function (name, value, options = {}) {
        if (!options.secure) throw new Error(`the cookie ${name} is not Secure`);
        return express.response.cookie.call(this, name, value, options);
      };
      next();
    };
    const agent = request.agent(siteApp({ root: dir, before: code === 'ERR_PAGE_RESPONSE' ? secureOnly : null }));
    await agent.post('/__session').send({ start: true });
    const res = await agent.get('/p');
    expect([res.status, res.body.code, res.headers['set-cookie']]).toEqual([500, code, undefined]);
    expect((await agent.get('/__session')).body).not.toHaveProperty('n');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('redirects to a path outside ASCII, percent-encoded', async () => {
    const dir = writePages({ 'p.html': `<script scope="backend">session.set('n', 1); redirect('/日本')</script>` });
    const agent = request.agent(siteApp({ root: dir }));
    const res = await agent.get('/p');
    expect([res.status, res.headers.location]).toEqual([302, '/%E6%97%A5%E6%9C%AC']);
    expect((await agent.get('/__session')).body.n).toBe(1);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // A visitor cannot break their own session: a lone surrogate a script stores comes back as U+FFFD,
  // and the next page still runs.
  it('keeps a session working after a script stored half of an emoji in it', async () => {
    const dir = writePages({
      'nick.html': `<script scope="backend">session.set('nick', request.query.nick.slice(0, 20))</script>ok`,
      'show.html': `<script scope="backend">response.json(session.get('nick'))</script>`,
    });
    const agent = request.agent(siteApp({ root: dir }));
    expect((await agent.get('/nick').query({ nick: 'a'.repeat(19) + '😀' })).status).toBe(200);
    const shown = await agent.get('/show');
    expect([shown.status, shown.body]).toEqual([200, 'a'.repeat(19) + '\ufffd']);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('takes a JSON body nested 150 levels deep', async () => {
    const dir = writePages({
      'depth.html': `<script scope="backend">let d = 0, v = request.body; while (Array.isArray(v)) { v = v[0]; d++; } response.json(d)</script>`,
    });
    const res = await request(siteApp({ root: dir }))
      .post('/depth')
      .set('content-type', 'application/json')
      .send('['.repeat(150) + ']'.repeat(150));
    expect([res.status, res.body]).toEqual([200, 150]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uses the session cookie name it is given', async () => {
    const app = express();
    app.use(require('express-session')({ name: 'sid', secret: 's', resave: false, saveUninitialized: true }));
    app.use(backendScripts({ root, sessionCookieName: 'sid' }));
    const agent = request.agent(app);
    await agent.get('/visits');
    const echo = await agent.get('/echo');
    expect(echo.body.cookies).not.toHaveProperty('sid');
    expect(echo.body.headers.cookie).toBeUndefined();
  });

  it('starts pages with the variables it is given, and passes script logs on', async () => {
    const logs = [];
    const dir = writePages({ 'v.html': '<script scope="backend">console.log(getVariable("api"))</script>{{ var.api }} {{ var.path }}' });
    const app = siteApp({
      root: dir,
      variables: (req) => ({ api: 'https://api.example', path: req.path }),
      onLogs: (entries, { page }) => logs.push({ entries, page }),
    });
    expect((await request(app).get('/v')).text).toBe('https://api.example /v');
    expect(logs).toEqual([{ entries: [{ level: 'log', message: 'https://api.example' }], page: 'v.html' }]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('backendScripts errors', () => {
  let root;

  beforeAll(() => {
    const failing = (body) => `<h1>Shop</h1><script scope="backend">const key = "${SECRET}"; ${body}</script>`;
    root = writePages({
      'throws.html': failing('throw new Error("payment service is down")'),
      'syntax.html': failing('let = ;'),
      'loops.html': failing('while (true) {}'),
      'template.html': '<script scope="backend">var k = "' + SECRET + '"</script>{% for x in %}',
      'reference.html': failing('undefinedFunction(key)'),
    });
  });

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it.each([
    ['/throws', 'ERR_SCRIPT_EXCEPTION'],
    ['/syntax', 'ERR_SCRIPT_SYNTAX'],
    ['/loops', 'ERR_SCRIPT_TIMEOUT'],
    ['/template', 'ERR_PAGE_TEMPLATE'],
    ['/reference', 'ERR_SCRIPT_EXCEPTION'],
  ])('passes the failure of %s to next(err) with its code, never the script', async (url, code) => {
    const app = siteApp({ root, limits: { cpuTimeMs: 50 } });
    const res = await request(app).get(url);
    expect(res.status).toBe(500);
    expect(res.body.code).toBe(code);
    expect(res.body.page).toBe(`${url.slice(1)}.html`);
    expect(res.text).not.toContain(SECRET);
    expect(res.text).not.toContain('scope');
  });

  it("shows nothing of the failure on Express's production error page", async () => {
    const app = express();
    app.set('env', 'production');
    app.use(backendScripts({ root }));
    // Express logs the error for the operator; the visitor sees none of it.
    const logged = jest.spyOn(console, 'error').mockImplementation(() => {});
    const res = await request(app).get('/throws');
    await new Promise((resolve) => setImmediate(resolve));
    expect(logged).toHaveBeenCalledWith(expect.objectContaining({ code: 'ERR_SCRIPT_EXCEPTION' }));
    logged.mockRestore();
    expect(res.status).toBe(500);
    expect(res.text).not.toContain(SECRET);
    expect(res.text).not.toContain('payment service');
    expect(res.text).toContain('Internal Server Error');
  });
});

describe('backendScripts failing open', () => {
  let root;

  beforeAll(() => {
    root = writePages({
      // Sets everything a script can, then fails: none of it may reach the visitor.
      'shop.html': `<h1>{{ var.site }}</h1><p>{{ var.greeting }}</p>
<script scope="backend">
  session.set('visits', 99);
  session.delete('user');
  cookie.set('theme', 'dark');
  response.status(403).setHeader('x-from-script', 'yes');
  setVariable('greeting', 'set by the script');
  setVariable('site', 'overwritten');
  paymentService.charge();
</script>`,
      'syntax.html': '<p>{{ var.site }}</p>\n<script scope="backend">\nlet = ;\n</script>',
      'broken-template.html': '<script scope="backend">throw new Error("x")</script>{% for x in %}',
      'visits.html': `<script scope="backend">session.set('visits', (session.get('visits') ?? 0) + 1)</script>ok`,
    });
  });

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  /** An agent with a session holding { user: 'ada', visits: 1 }, and its session cookie. */
  async function signedIn(app) {
    const agent = request.agent(app);
    await agent.post('/__session').send({ user: 'ada', visits: 1 }).expect(200);
    return agent;
  }

  it("renders the page's template without any of the failed script's changes under onScriptError: 'render'", async () => {
    const errors = [];
    const app = siteApp({
      root,
      variables: { site: 'Shop' },
      onScriptError: 'render',
      onError: (error, info) => errors.push({ error, info }),
    });
    const agent = await signedIn(app);
    const res = await agent.get('/shop');
    expect(res.status).toBe(200);
    expect(res.text).toBe('<h1>Shop</h1><p></p>\n');
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['x-from-script']).toBeUndefined();
    expect(res.headers['set-cookie']).toBeUndefined();
    expect((await agent.get('/__session')).body).toMatchObject({ user: 'ada', visits: 1 });
    expect(errors).toHaveLength(1);
    expect(errors[0].info).toMatchObject({ page: 'shop.html', code: 'ERR_SCRIPT_EXCEPTION', line: 9 });
    expect(errors[0].info.column).toEqual(expect.any(Number));
    expect(errors[0].info.req.path).toBe('/shop');
    expect(errors[0].error.message).toMatch(/paymentService/);
  });

  it('goes to next(err) by default, and onError hears of it with the line and column', async () => {
    const errors = [];
    const app = siteApp({ root, variables: { site: 'Shop' }, onError: (error, info) => errors.push(info) });
    const agent = await signedIn(app);
    const res = await agent.get('/syntax');
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ code: 'ERR_SCRIPT_SYNTAX', page: 'syntax.html' });
    expect(errors).toEqual([
      expect.objectContaining({ page: 'syntax.html', code: 'ERR_SCRIPT_SYNTAX', line: 3, column: expect.any(Number) }),
    ]);
    expect((await agent.get('/shop')).status).toBe(500);
    expect((await agent.get('/__session')).body).toMatchObject({ user: 'ada', visits: 1 });
  });

  it('passes a template that fails on its own to next(err), even when failing open', async () => {
    const app = siteApp({ root, onScriptError: 'render' });
    const res = await request(app).get('/broken-template');
    expect(res.status).toBe(500);
    expect(res.body.code).toBe('ERR_PAGE_TEMPLATE');
  });

  it('serves pages whose script succeeds as usual, and gives logs of failed scripts to onLogs', async () => {
    const logs = [];
    const logging = writePages({ 'log.html': '<script scope="backend">console.warn("about to fail"); boom()</script>fallback' });
    const app = siteApp({ root: logging, onScriptError: 'render', onLogs: (entries) => logs.push(...entries) });
    expect((await request(app).get('/log')).text).toBe('fallback');
    expect(logs).toEqual([{ level: 'warn', message: 'about to fail' }]);
    const visits = await siteApp({ root, onScriptError: 'render' });
    const agent = request.agent(visits);
    expect((await agent.get('/visits')).text).toBe('ok');
    await agent.get('/visits');
    expect((await agent.get('/__session')).body.visits).toBe(2);
    fs.rmSync(logging, { recursive: true, force: true });
  });

  it('refuses an onScriptError or onError it cannot use', () => {
    expect(() => backendScripts({ root, onScriptError: 'ignore' })).toThrow(/onScriptError must be 'next' or 'render'/);
    expect(() => backendScripts({ root, onError: 'log' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('backendScripts and changing files', () => {
  it('serves the new version of a page as soon as its file changes, without a restart', async () => {
    const root = writePages({ 'news.html': '<script scope="backend">setVariable("v", 1)</script>v{{ var.v }}' });
    const app = siteApp({ root });
    expect((await request(app).get('/news')).text).toBe('v1');
    expect((await request(app).get('/news')).text).toBe('v1');
    // Same size, so only the modification time tells the versions apart.
    fs.writeFileSync(path.join(root, 'news.html'), '<script scope="backend">setVariable("v", 2)</script>v{{ var.v }}');
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(root, 'news.html'), later, later);
    expect((await request(app).get('/news')).text).toBe('v2');
    fs.writeFileSync(path.join(root, 'fresh.html'), 'new page');
    expect((await request(app).get('/fresh')).text).toBe('new page');
    fs.rmSync(path.join(root, 'news.html'));
    expect((await request(app).get('/news')).text).toBe('not handled');
    fs.rmSync(root, { recursive: true, force: true });
  });
});

describe('backendScripts with shared modules and host functions', () => {
  const PAGE = [
    '<p>{{ var.verdict }} {{ var.orders | length }}</p>',
    '<script scope="backend">',
    "import { isEmail } from 'validators';",
    "setVariable('verdict', isEmail(request.query.e ?? '') ? 'email' : 'not an email');",
    "setVariable('orders', getOrders(request.query.n ?? 1));",
    '</script>',
  ].join('\n');

  it('lets every page import the modules of a folder, and reloads a module when its file changes', async () => {
    const root = writePages({
      'check.html': PAGE,
      '_modules/validators.js': "export const isEmail = (s) => s.includes('@');",
    });
    const app = siteApp({
      root,
      extensions: ['html', 'js'],
      modules: path.join(root, '_modules'),
      functions: { getOrders: async (n) => Array.from({ length: Number(n) }, (_, i) => i) },
    });
    expect((await request(app).get('/check?e=a@b&n=3')).text.trim()).toBe('<p>email 3</p>');
    expect((await request(app).get('/check?e=ab')).text.trim()).toBe('<p>not an email 1</p>');
    // The folder holds modules, never pages, even for an extension the site serves.
    for (const url of ['/_modules/validators.js', '/_modules/validators', '/_modules/']) {
      expect((await request(app).get(url)).text).toBe('not handled');
    }
    fs.writeFileSync(path.join(root, '_modules/validators.js'), "export const isEmail = (s) => s.endsWith('.example');");
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(root, '_modules/validators.js'), later, later);
    expect((await request(app).get('/check?e=a@b')).text.trim()).toBe('<p>not an email 1</p>');
    expect((await request(app).get('/check?e=x.example')).text.trim()).toBe('<p>email 1</p>');
    // A module that no longer compiles fails every page that runs, with the module named.
    fs.writeFileSync(path.join(root, '_modules/validators.js'), 'export const = 1;');
    const broken = await request(app).get('/check');
    expect(broken.status).toBe(500);
    expect(broken.body).toMatchObject({ code: 'ERR_SCRIPT_SYNTAX', page: 'check.html' });
    expect(broken.body.message).toContain('module validators');
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('takes functions as a function of the request, so that they can see the visitor', async () => {
    const root = writePages({ 'me.html': '<script scope="backend">response.json(whoAmI())</script>' });
    const app = siteApp({
      root,
      functions: (req) => ({ whoAmI: async () => ({ ip: req.ip, agent: req.get('user-agent') }) }),
    });
    const res = await request(app).get('/me').set('User-Agent', 'test-agent/1');
    expect(res.body).toEqual({ ip: expect.any(String), agent: 'test-agent/1' });
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('refuses modules and functions options it cannot use', () => {
    const root = writePages({ 'a.html': 'a' });
    expect(() => backendScripts({ root, modules: path.join(root, 'nope') })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => backendScripts({ root, modules: 5 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => backendScripts({ root, functions: 'getOrders' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    fs.rmSync(root, { recursive: true, force: true });
  });
});

describe('the seed token check, through the egress proxy', () => {
  let upstream;
  let proxy;
  let root;
  let app;
  const credentials = { username: 'site', password: 'proxy-secret' };

  beforeAll(async () => {
    upstream = await startUpstream();
    proxy = await startEgressProxy({ credentials: [credentials], allowedRanges: ['127.0.0.0/8'] });
    root = writePages({
      'login.html': '<h1>Please sign in</h1>',
      'welcome.html': `<!doctype html>
<script scope="backend">
  const token = request.query.token;
  if (!token) redirect('/login');
  const check = http.post(getVariable('validateUrl'), { token });
  if (check.status === 200) {
    const user = JSON.parse(check.body).user;
    session.set('user', user);
    setVariable('user_name', user.name);
  } else {
    response.status(403);
  }
</script>
{% if var.user_name %}<h1>Welcome, {{ var.user_name }}</h1>{% else %}<h1>Access denied</h1>{% endif %}`,
      'account.html': `<script scope="backend">
  const user = session.get('user');
  if (!user) redirect('/login');
  setVariable('user', user);
</script><p>Signed in as {{ var.user.name }}</p>`,
    });
    app = siteApp({
      root,
      proxy: { url: proxy.url, ...credentials, allowedRanges: ['127.0.0.0/8'] },
      variables: { validateUrl: `${upstream.url}/auth/validate` },
    });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('redirects to /login when there is no token', async () => {
    const res = await request(app).get('/welcome');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/login');
    expect(res.text).toBe('');
  });

  it('answers 403 with the page for a bad token', async () => {
    const res = await request(app).get('/welcome?token=bad-token');
    expect(res.status).toBe(403);
    expect(res.text).toContain('<h1>Access denied</h1>');
    expect(res.text).not.toContain('http.post');
  });

  it('welcomes Ada for a good token, and the session carries her to the next page', async () => {
    const agent = request.agent(app);
    expect((await agent.get('/account')).headers.location).toBe('/login');
    const res = await agent.get('/welcome?token=good-token');
    expect(res.status).toBe(200);
    expect(res.text).toContain('<h1>Welcome, Ada</h1>');
    expect(res.text).not.toContain('scope="backend"');
    const account = await agent.get('/account');
    expect(account.status).toBe(200);
    expect(account.text).toContain('Signed in as Ada');
    // The check went through the proxy, to the validation service.
    expect(upstream.hits.some((hit) => hit.url === '/auth/validate' && hit.method === 'POST')).toBe(true);
  });
});

describe('proxy and limits as functions of the request: one process, many sites', () => {
  let upstream;
  let proxy;
  let root;
  const decisions = [];
  // Each site has its own credentials at the proxy; the blog's forbid loopback.
  const sites = {
    'shop.test': { username: 'shop', password: 'shop-secret' },
    'blog.test': { username: 'blog', password: 'blog-secret' },
  };

  beforeAll(async () => {
    upstream = await startUpstream();
    proxy = await startEgressProxy({
      allowedRanges: ['127.0.0.0/8'],
      credentials: [sites['shop.test'], { ...sites['blog.test'], deniedRanges: ['127.0.0.0/8'] }],
      onDecision: (d) => decisions.push(d),
    });
    root = writePages({
      'fetch.html': `<script scope="backend">
  const res = http.get(getVariable('url'));
  response.json({ status: res.status, error: res.error ?? null });
</script>`,
      'spin.html': '<script scope="backend">let i = 0; while (i < 3e6) i++; response.json({ i })</script>',
    });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const app = (options) => siteApp({ root, variables: { url: `${upstream.url}/json` }, ...options });
  const proxyFor = (req) => ({ url: proxy.url, ...sites[req.hostname], allowedRanges: ['127.0.0.0/8'] });

  it("sends each site's requests with its own credentials, under its own rules at the proxy", async () => {
    const site = app({ proxy: proxyFor });
    const shop = await request(site).get('/fetch').set('Host', 'shop.test');
    expect(shop.body).toEqual({ status: 200, error: null });
    const blog = await request(site).get('/fetch').set('Host', 'blog.test');
    expect(blog.body.status).toBe(0);
    expect(blog.body.error).toMatch(/the egress proxy refused the request to 127\.0\.0\.1:\d+: .*deniedRanges entry 127\.0\.0\.0\/8/);
    for (let waited = 0; decisions.length < 2 && waited < 3000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(decisions.map((d) => [d.username, d.allowed, d.rule])).toEqual([
      ['shop', true, null],
      ['blog', false, 'denied-address'],
    ]);
  });

  it('awaits an async function, and gives a site without a proxy no http at all', async () => {
    const site = app({ proxy: async (req) => (req.hostname === 'shop.test' ? proxyFor(req) : null) });
    expect((await request(site).get('/fetch').set('Host', 'shop.test')).body).toEqual({ status: 200, error: null });
    const other = await request(site).get('/fetch').set('Host', 'other.test');
    expect(other.status).toBe(500);
    expect(other.body).toMatchObject({ code: 'ERR_SCRIPT_EXCEPTION', message: expect.stringContaining('http') });
  });

  it("holds each site's scripts to its own limits", async () => {
    const site = app({ limits: async (req) => (req.hostname === 'blog.test' ? { cpuTimeMs: 10 } : { cpuTimeMs: 5000 }) });
    expect((await request(site).get('/spin').set('Host', 'shop.test')).body).toEqual({ i: 3e6 });
    const blog = await request(site).get('/spin').set('Host', 'blog.test');
    expect(blog.status).toBe(500);
    expect(blog.body.code).toBe('ERR_SCRIPT_TIMEOUT');
  });

  it('fails the page with a clear error when a function returns something else, and refuses other types up front', async () => {
    const site = app({ limits: () => 'fast' });
    const res = await request(site).get('/spin');
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'backendScripts: options.limits(req, res) must be a RunOptions object or null (or a promise of one). Received string',
    });
    const thrown = await request(app({ proxy: () => Promise.reject(new Error('no credentials for this site')) })).get('/fetch');
    expect(thrown.body).toMatchObject({ message: 'no credentials for this site' });
    expect(() => backendScripts({ root, proxy: 'http://proxy' })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_ARG_TYPE',
        message: expect.stringContaining('a ProxyConfig object, a function or null'),
      }),
    );
    expect(() => backendScripts({ root, limits: 5 })).toThrow(/options\.limits must be a RunOptions object, a function or null/);
  });
});

describe('onExecution: a record of every page served', () => {
  let egress;
  let upstream;
  let root;
  let saved;

  beforeAll(async () => {
    saved = configure();
    egress = await startRecordedEgress({ username: 'site', password: 'record-secret' });
    upstream = egress.upstream;
    root = writePages({
      'fetch.html': `<script scope="backend">
  const ok = http.get(getVariable('base') + '/json?token=${SECRET}');
  const refused = http.get(getVariable('other') + '/json');
  setVariable('statuses', [ok.status, refused.status]);
</script>{{ var.statuses }}`,
      'throws.html': '<script scope="backend">throw new Error("down")</script>',
      'spin.html': '<script scope="backend">const end = Date.now() + 300; while (Date.now() < end) {}</script>spun',
      'cookie.html': '<script scope="backend">cookie.set("connect.sid", "forged")</script>',
    });
  });

  afterAll(async () => {
    configure(saved);
    await egress?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const site = (options) =>
    siteApp({
      root,
      proxy: egress.proxyConfig,
      variables: { base: upstream.url, other: `http://127.0.0.2:${upstream.port}` },
      ...options,
    });

  it('is called once for a page served, with the page, the outcome, the times and every request', async () => {
    const calls = [];
    const res = await request(site({ onExecution: (record, info) => calls.push({ record, info }) })).get('/fetch');
    expect([res.status, res.text]).toEqual([200, '[200,0]']);
    expect(calls).toHaveLength(1);
    const [{ record, info }] = calls;
    expect(record).toEqual({
      page: 'fetch.html',
      outcome: 'ok',
      durationMs: expect.any(Number),
      cpuMs: expect.any(Number),
      peakMemoryBytes: expect.any(Number),
      queueMs: expect.any(Number),
      httpWaitMs: expect.any(Number),
      httpRequests: 2,
      requests: [
        {
          method: 'GET',
          host: '127.0.0.1',
          status: 200,
          bytes: expect.any(Number),
          durationMs: expect.any(Number),
          error: null,
          rule: null,
        },
        {
          method: 'GET',
          host: '127.0.0.2',
          status: 0,
          bytes: 0,
          durationMs: expect.any(Number),
          error: 'proxy-refused',
          rule: 'denied-address',
        },
      ],
      hostWaitMs: 0,
      hostCalls: [],
    });
    expect(record.peakMemoryBytes).toBeGreaterThan(0);
    expect(record.httpWaitMs).toBeGreaterThan(0);
    expect(JSON.stringify(record)).not.toContain(SECRET);
    expect(info.req.path).toBe('/fetch');
    expect(info.error).toBeNull();
  });

  it("is called for a failed page with the error's code as the outcome, before the error goes on", async () => {
    const calls = [];
    const app = site({ onExecution: (record, { error }) => calls.push([record.page, record.outcome, error?.code]) });
    expect((await request(app).get('/throws')).body.code).toBe('ERR_SCRIPT_EXCEPTION');
    expect((await request(app).get('/cookie')).body.code).toBe('ERR_PAGE_SESSION_COOKIE');
    expect((await request(app).get('/missing')).text).toBe('not handled');
    expect(calls).toEqual([
      ['throws.html', 'ERR_SCRIPT_EXCEPTION', 'ERR_SCRIPT_EXCEPTION'],
      ['cookie.html', 'ERR_PAGE_SESSION_COOKIE', 'ERR_PAGE_SESSION_COOKIE'],
    ]);
  });

  it('is called for a page that never ran: refused as busy, or failed in its options', async () => {
    configure({ maxConcurrency: 1, maxQueue: 0 });
    const records = [];
    const app = site({ onExecution: (record) => records.push(record) });
    const [a, b] = await Promise.all([request(app).get('/spin'), request(app).get('/spin')]);
    configure(saved);
    expect([a.status, b.status].sort()).toEqual([200, 503]);
    expect(records.map((r) => r.outcome).sort()).toEqual(['ERR_SCRIPT_BUSY', 'ok']);
    expect(records.find((r) => r.outcome === 'ERR_SCRIPT_BUSY')).toMatchObject({ page: 'spin.html', durationMs: 0, requests: [] });

    const failing = [];
    const broken = site({ proxy: () => Promise.reject(new Error('no credentials')), onExecution: (r) => failing.push(r) });
    expect((await request(broken).get('/fetch')).status).toBe(500);
    expect(failing).toEqual([expect.objectContaining({ page: 'fetch.html', outcome: 'error', durationMs: 0, httpRequests: 0 })]);
  });

  it('never breaks the response when it throws or rejects: the failure becomes a process warning', async () => {
    const warned = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const throwing = await request(
        site({
          onExecution: () => {
            throw new Error('metrics backend down');
          },
        }),
      ).get('/fetch');
      expect([throwing.status, throwing.text]).toEqual([200, '[200,0]']);
      const rejecting = await request(site({ onExecution: async () => Promise.reject(new Error('async sink down')) })).get('/throws');
      expect(rejecting.body.code).toBe('ERR_SCRIPT_EXCEPTION');
      for (let waited = 0; warned.mock.calls.length < 2 && waited < 2000; waited += 10)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(warned.mock.calls.map(([message, options]) => [options.code, message.split('\n')[0]])).toEqual([
        ['BACKEND_SCRIPTS_ON_EXECUTION', 'backendScripts: onExecution threw for fetch.html: Error: metrics backend down'],
        ['BACKEND_SCRIPTS_ON_EXECUTION', 'backendScripts: onExecution threw for throws.html: Error: async sink down'],
      ]);
    } finally {
      warned.mockRestore();
    }
    expect(() => backendScripts({ root, onExecution: 'log' })).toThrow(/options\.onExecution must be a function or null/);
  });
});

'use strict';

// The demo: `npm run demo` starts the site, the token API and the egress proxy, prints the URLs,
// and every page answers as its description says; its playground runs what it is sent safely.
const fs = require('node:fs');
const path = require('node:path');
const request = require('supertest');
const { startDemo } = require('./support/demo');

describe('npm run demo', () => {
  let demo;

  beforeAll(async () => {
    demo = await startDemo();
  });

  afterAll(async () => {
    await demo?.stop();
  });

  it('prints the URLs to open', () => {
    for (const page of ['/welcome?token=good-token', '/visits', '/guestbook', '/api/me', '/account', '/playground']) {
      expect(demo.output()).toContain(`${demo.url}${page}`);
    }
  });

  it('serves the home page, escaping what the visitor sends', async () => {
    const res = await request(demo.url).get('/?name=<b>you</b>');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Hello, &lt;b&gt;you&lt;/b&gt;');
    expect(res.text).not.toContain('setVariable');
    expect(res.text).toContain("<script>document.getElementById('js')");
  });

  it('runs the token check: login redirect, 403, then Welcome, Ada carried by the session', async () => {
    const agent = request.agent(demo.url);
    const none = await agent.get('/welcome');
    expect([none.status, none.headers.location]).toEqual([302, '/login']);
    expect((await agent.get('/login')).text).toContain('good-token');

    const bad = await agent.get('/welcome?token=bad-token');
    expect(bad.status).toBe(403);
    expect(bad.text).toContain('Access denied');
    expect(bad.text).toContain('That token is not valid.');

    const good = await agent.get('/welcome?token=good-token');
    expect(good.status).toBe(200);
    expect(good.text).toContain('Welcome, Ada');
    expect(good.text).not.toContain('http.post');

    expect((await agent.get('/account')).text).toContain('Signed in as Ada.');
    const me = await agent.get('/api/me');
    expect(me.headers['content-type']).toMatch(/^application\/json/);
    expect(me.body).toMatchObject({ signedIn: true, user: { name: 'Ada' } });

    const out = await agent.post('/logout');
    expect([out.status, out.headers.location]).toEqual([303, '/']);
    expect((await agent.get('/account')).headers.location).toBe('/login');
  });

  it('counts visits in the session and remembers the last one in a cookie', async () => {
    const agent = request.agent(demo.url);
    const first = await agent.get('/visits');
    expect(first.text).toContain('Visit number 1');
    expect(first.text).toContain('This is your first visit.');
    expect(first.headers['set-cookie'].join('\n')).toMatch(/last_visit=/);
    const second = await agent.get('/visits');
    expect(second.text).toContain('Visit number 2');
    // A date a person reads, not the cookie's ISO timestamp.
    expect(second.text).toMatch(/Your previous visit was on \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC\./);
    expect(second.text).not.toMatch(/\d{4}-\d\d-\d\dT/);
    expect((await agent.get('/api/me')).body).toMatchObject({ signedIn: false, user: null, visits: 2 });
  });

  it('takes a forged last-visit cookie for no visit at all', async () => {
    const res = await request(demo.url).get('/visits').set('cookie', 'last_visit=<script>alert(1)</script>');
    expect(res.text).toContain('This is your first visit.');
    expect(res.text).not.toContain('alert(1)');
  });

  it('greets a signed-in visitor by name, and only a signed-out one as a visitor', async () => {
    const agent = request.agent(demo.url);
    const before = await agent.get('/');
    expect(before.text).toContain('Hello, visitor');
    expect(before.text).toContain('You are not signed in.');
    await agent.get('/welcome?token=good-token');
    const after = await agent.get('/?name=Bob');
    expect(after.text).toContain('Hello, Ada');
    expect(after.text).toContain('You are signed in.');
    expect(after.text).not.toMatch(/visitor|Bob/);
  });

  it("keeps a guestbook: a shared module checks the form, the site's own functions store it", async () => {
    const empty = await request(demo.url).get('/guestbook');
    expect(empty.status).toBe(200);
    expect(empty.text).toContain('No entries yet');
    const bad = await request(demo.url).post('/guestbook').type('form').send({ name: 'Ada', email: 'not-an-email', message: '<b>hi</b>' });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('That is not an email address.');
    expect(bad.text).toContain('&lt;b&gt;hi&lt;/b&gt;');
    const good = await request(demo.url)
      .post('/guestbook')
      .type('form')
      .send({ name: 'Ada', email: 'ada@example.com', message: 'Lovely <site>' });
    expect(good.status).toBe(303);
    expect(good.headers.location).toBe('/guestbook');
    const listed = await request(demo.url).get('/guestbook');
    expect(listed.text).toContain('<strong>Ada</strong>');
    expect(listed.text).toContain('Lovely &lt;site&gt;');
    expect(listed.text).not.toContain('ada@example.com');
    expect(listed.text).not.toContain('No entries yet');
  });

  it('gives every page the one stylesheet and the same navigation', async () => {
    const css = await request(demo.url).get('/assets/demo.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    const pages = fs.readdirSync(path.join(__dirname, '..', 'demo', 'pages')).filter((f) => f.endsWith('.html') && f !== 'logout.html');
    for (const page of [...pages.map((f) => `/${f}`), '/playground']) {
      const agent = request.agent(demo.url);
      await agent.get('/welcome?token=good-token'); // so that /account renders rather than redirects
      const res = await agent.get(page === '/welcome.html' ? '/welcome?token=good-token' : page);
      expect([page, res.status]).toEqual([page, 200]);
      expect(res.text).toContain('<link rel="stylesheet" href="/assets/demo.css">');
      expect(res.text).toContain('<a href="/playground"');
      expect(res.text).not.toContain('<style');
    }
  });

  it('answers 404 for what it does not serve', async () => {
    expect((await request(demo.url).get('/nope')).status).toBe(404);
    expect((await request(demo.url).get('/.env')).status).toBe(404);
  });

  it("exposes Prometheus metrics of the pages' executions and of the executor at /metrics", async () => {
    /** The value of every sample in a scrape, by series. */
    const scrape = async () => {
      const res = await request(demo.url).get('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      const samples = new Map();
      for (const line of res.text.split('\n')) {
        const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
        if (match) samples.set(match[1], Number(match[2]));
      }
      return samples;
    };
    const before = await scrape();
    const agent = request.agent(demo.url);
    await agent.get('/welcome?token=good-token');
    await agent.get('/welcome?token=bad-token');
    await agent.get('/visits');
    await agent.get('/guestbook');
    const after = await scrape();
    const added = (series) => (after.get(series) ?? 0) - (before.get(series) ?? 0);

    expect(added('backend_scripts_executions_total{page="welcome.html",outcome="ok"}')).toBe(2);
    expect(added('backend_scripts_executions_total{page="visits.html",outcome="ok"}')).toBe(1);
    expect(added('backend_scripts_execution_duration_seconds_count{outcome="ok"}')).toBe(4);
    expect(added('backend_scripts_execution_cpu_seconds_count{outcome="ok"}')).toBe(4);
    expect(added('backend_scripts_execution_duration_seconds_bucket{le="+Inf",outcome="ok"}')).toBe(4);
    expect(added('backend_scripts_execution_peak_memory_bytes_count')).toBe(4);
    // The guestbook lists its entries with one of the site's own functions.
    expect(added('backend_scripts_host_calls_total{name="listEntries",outcome="ok"}')).toBe(1);
    // The token check: one request answered 200 and one 401 by the token API.
    expect(added('backend_scripts_http_requests_total{outcome="2xx",rule=""}')).toBe(1);
    expect(added('backend_scripts_http_requests_total{outcome="4xx",rule=""}')).toBe(1);
    for (const gauge of ['running', 'queued', 'in_flight', 'threads', 'abandoned']) {
      expect(after.get(`backend_scripts_executor_${gauge}`)).toBeGreaterThanOrEqual(0);
    }
    expect(after.get('backend_scripts_executor_threads')).toBeGreaterThan(0);
    expect(demo.output()).toContain(`${demo.url}/metrics`);
  });

  describe('its playground', () => {
    const runPage = (input) => request(demo.url).post('/playground/run').send(input);

    it('is a page with a strict content security policy that no other site can frame', async () => {
      const res = await request(demo.url).get('/playground');
      expect(res.status).toBe(200);
      expect(res.text).toContain('<iframe id="preview" class="preview" sandbox=""');
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    });

    it('runs a page with renderPage, through the egress proxy, and answers with everything it did', async () => {
      const res = await runPage({
        script: [
          `const check = http.post(getVariable('validateUrl'), { token: request.query.token });`,
          `session.set('user', JSON.parse(check.body).user);`,
          `setVariable('name', session.get('user').name);`,
          `cookie.set('seen', 'yes');`,
          `console.info('method %s, body %j', request.method, request.body);`,
        ].join('\n'),
        template: '<h1>Hi {{ var.name }}</h1>',
        request: { method: 'POST', query: { token: 'good-token' }, body: { a: 1 } },
        session: { visits: 3 },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        ok: true,
        status: 200,
        body: '\n<h1>Hi Ada</h1>',
        variables: { name: 'Ada' },
        session: { visits: 3, user: { name: 'Ada' } },
        sessionChanged: true,
        cookies: [{ name: 'seen', value: 'yes' }],
        logs: [{ level: 'info', message: 'method POST, body {"a":1}' }],
        stats: { httpRequests: 1 },
      });
    });

    it('keeps a query key named __proto__ a key', async () => {
      const res = await request(demo.url)
        .post('/playground/run')
        .set('content-type', 'application/json')
        .send('{"script":"setVariable(\'q\', Object.keys(request.query));","request":{"query":{"__proto__":["x"],"a":"1"}}}');
      expect(res.body.variables.q).toEqual(['__proto__', 'a']);
    });

    it('never touches the session or the cookies of the visitor who runs it', async () => {
      const agent = request.agent(demo.url);
      const res = await agent
        .post('/playground/run')
        .send({ script: `session.set('user', { name: 'Mallory' }); cookie.set('connect.sid', 'x');` });
      expect(res.body).toMatchObject({ ok: true, sessionChanged: true });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect((await agent.get('/api/me')).body).toMatchObject({ signedIn: false });
    });

    it('says in which part, on which line, a page failed', async () => {
      const thrown = await runPage({ script: `const a = 1;\nconst order = {};\norder.lines.push(1);`, template: '<p></p>' });
      expect(thrown.body).toMatchObject({ ok: false, error: { code: 'ERR_SCRIPT_EXCEPTION', part: 'script', line: 3, pageLine: 4 } });
      expect(thrown.body.error.message).toContain('script line 3');
      const syntax = await runPage({ script: `const a = ;` });
      expect(syntax.body.error).toMatchObject({ code: 'ERR_SCRIPT_SYNTAX', part: 'script', line: 1, column: 11 });
      const template = await runPage({ script: `setVariable('a', 1);\n`, template: '<p>\n{{ var.a | no_such_filter }}</p>' });
      expect(template.body.error).toMatchObject({ code: 'ERR_PAGE_TEMPLATE', part: 'template', line: 2 });
      expect(template.body.error.message).toContain('template line 2');
      const logged = await runPage({ script: `console.log('before');\nthrow new Error('boom');` });
      expect(logged.body.logs).toEqual([{ level: 'log', message: 'before' }]);
    });

    it('lets its scripts reach the token API and nothing else, not even the demo itself', async () => {
      const site = new URL(demo.url);
      const script = (url) => `setVariable('r', http.get(${JSON.stringify(url)}));`;
      for (const url of [
        `http://127.0.0.1:${site.port}/api/me`,
        'http://169.254.169.254/latest/meta-data/',
        'http://10.0.0.1/',
        'https://127.0.0.1:1/',
        'http://localhost:1/',
      ]) {
        const res = await runPage({ script: script(url) });
        expect([url, res.body.ok, res.body.variables.r.status]).toEqual([url, true, 0]);
        expect(res.body.variables.r.error).toMatch(/refused|blocked/);
      }
      const token = await runPage({ script: `setVariable('r', http.post(getVariable('validateUrl'), { token: 'nope' }).status);` });
      expect(token.body.variables.r).toBe(401);
      const big = await runPage({ script: `setVariable('r', http.post(getVariable('validateUrl'), 'x'.repeat(16 * 1024 + 1)));` });
      expect(big.body.variables.r).toMatchObject({ status: 0 });
      expect(big.body.variables.r.error).toContain("the playground's scripts may send at most 16384 bytes");
    });

    it('holds its scripts to tight limits', async () => {
      const started = Date.now();
      const loop = await runPage({ script: 'for (;;) {}' });
      expect(loop.body.error).toMatchObject({ code: 'ERR_SCRIPT_TIMEOUT' });
      expect(loop.body.error.message).toContain('250 ms');
      expect(Date.now() - started).toBeLessThan(5000);
      const memory = await runPage({ script: `setVariable('s', 'x'.repeat(32 * 1024 * 1024));` });
      expect(memory.body.error.code).toBe('ERR_SCRIPT_MEMORY');
      const output = await runPage({ script: `for (let i = 0; ; i++) setVariable('v' + i, 'x'.repeat(10000));` });
      expect(output.body.error.code).toBe('ERR_SCRIPT_OUTPUT_LIMIT');
      const requests = await runPage({ script: `for (let i = 0; i < 4; i++) http.get(getVariable('validateUrl'));` });
      expect(requests.body.error.message).toContain('HTTP request limit reached: 3 per script execution');
    });

    it('refuses input it cannot use, saying which field is wrong', async () => {
      const cases = [
        [[], 'the request body must be a JSON object, not an array'],
        [{ scirpt: '' }, 'unknown field "scirpt"'],
        [{ script: 5 }, 'script must be a string, not number 5'],
        [{ script: 'x'.repeat(16 * 1024 + 1) }, 'the playground takes at most 16384'],
        [{ script: `setVariable('a', '</script><h1>')` }, 'script must not contain "</script"'],
        [{ template: {} }, 'template must be a string, not an object'],
        [{ request: 'GET' }, 'request must be an object'],
        [{ request: { method: 'DELETE' } }, 'request.method must be "GET" or "POST"'],
        [{ request: { query: { a: 1 } } }, 'request.query.a must be a string or an array of strings, not number 1'],
        [{ request: { query: { a: [{}] } } }, 'request.query.a must be a string or an array of strings'],
        [{ request: { cookies: { a: ['x'] } } }, 'request.cookies.a must be a string, not an array'],
        [{ request: { body: { a: 1 } } }, 'request.body must be empty for a GET request'],
        [{ request: { headers: {} } }, 'request has an unknown field "headers"'],
        [{ session: [1] }, 'session must be an object, not an array'],
        [{ session: { deep: JSON.parse('['.repeat(600) + ']'.repeat(600)) } }, 'nested deeper than 512 levels'],
      ];
      for (const [input, message] of cases) {
        const res = await runPage(input);
        expect([JSON.stringify(input).slice(0, 40), res.status, res.body.error?.code]).toEqual([
          JSON.stringify(input).slice(0, 40),
          400,
          'ERR_PLAYGROUND_INPUT',
        ]);
        expect(res.body.error.message).toContain(message);
      }
      const malformed = await request(demo.url).post('/playground/run').set('content-type', 'application/json').send('{"script":');
      expect([malformed.status, malformed.body.error.code]).toEqual([400, 'ERR_PLAYGROUND_INPUT']);
      expect(malformed.body.error.message).toContain('not valid JSON');
    });

    it('caps the size of what is posted', async () => {
      const res = await runPage({ session: { big: 'x'.repeat(65 * 1024) } });
      expect(res.status).toBe(413);
      expect(res.body.error).toEqual({ code: 'ERR_PLAYGROUND_TOO_LARGE', message: 'the run is larger than 64 KiB' });
    });

    it('runs nothing for another site: a foreign origin, a rebound host name or a form post', async () => {
      const foreign = await runPage({ script: '' }).set('origin', 'http://evil.example');
      expect([foreign.status, foreign.body.error.code]).toEqual([403, 'ERR_PLAYGROUND_ORIGIN']);
      const rebound = await runPage({ script: '' }).set('host', `attacker.example:${new URL(demo.url).port}`);
      expect([rebound.status, rebound.body.error.code]).toEqual([403, 'ERR_PLAYGROUND_HOST']);
      const form = await request(demo.url).post('/playground/run').type('form').send({ script: 'x' });
      expect([form.status, form.body.error.code]).toEqual([415, 'ERR_PLAYGROUND_CONTENT_TYPE']);
      const text = await request(demo.url).post('/playground/run').set('content-type', 'text/plain').send('{}');
      expect([text.status, text.body.error.code]).toEqual([415, 'ERR_PLAYGROUND_CONTENT_TYPE']);
      const same = await runPage({ script: '' }).set('origin', demo.url);
      expect(same.body.ok).toBe(true);
    });

    it('runs a few pages at once and turns the rest away at once', async () => {
      const answers = await Promise.all(Array.from({ length: 8 }, () => runPage({ script: 'for (;;) {}' })));
      const busy = answers.filter((res) => res.status === 503);
      expect(busy.length).toBeGreaterThanOrEqual(4);
      expect(busy[0].body.error.code).toBe('ERR_PLAYGROUND_BUSY');
      expect(answers.filter((res) => res.body.error?.code === 'ERR_SCRIPT_TIMEOUT').length).toBeGreaterThanOrEqual(1);
    });
  });
});

'use strict';

// The demo: `npm run demo` starts the site, the token API and the egress proxy, prints the URLs,
// and every page answers as its description says.
const { spawn } = require('node:child_process');
const path = require('node:path');
const request = require('supertest');

const ROOT = path.join(__dirname, '..');

/** Runs `npm run demo` on a free port; resolves with the process and the site's URL. */
function startDemo() {
  // Its own process group, so that the site and npm stop together.
  const child = spawn('npm', ['run', '--silent', 'demo'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start in time:\n${output}`)), 20000);
    const read = (chunk) => {
      output += chunk;
      const match = /running at (http:\/\/localhost:\d+)\//.exec(output);
      if (match && output.includes('Press Ctrl-C')) {
        clearTimeout(timer);
        resolve({ child, url: match[1], output: () => output });
      }
    };
    child.stdout.setEncoding('utf8').on('data', read);
    child.stderr.setEncoding('utf8').on('data', read);
    child.once('exit', (code) => reject(new Error(`the demo exited (${code}):\n${output}`)));
  });
}

describe('npm run demo', () => {
  let demo;

  beforeAll(async () => {
    demo = await startDemo();
  });

  afterAll(async () => {
    if (!demo) return;
    const exited = new Promise((resolve) => demo.child.once('exit', resolve));
    process.kill(-demo.child.pid, 'SIGTERM');
    await exited;
  });

  it('prints the URLs to open', () => {
    for (const page of ['/welcome?token=good-token', '/visits', '/api/me', '/account']) {
      expect(demo.output()).toContain(`${demo.url}${page}`);
    }
  });

  it('serves the home page, escaping what the visitor sends', async () => {
    const res = await request(demo.url).get('/?name=<b>you</b>');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Hello, &lt;b&gt;you&lt;&#x2f;b&gt;');
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
    expect(second.text).toContain('Your previous visit was at');
    expect((await agent.get('/api/me')).body).toMatchObject({ signedIn: false, user: null, visits: 2 });
  });

  it('answers 404 for what it does not serve', async () => {
    expect((await request(demo.url).get('/nope')).status).toBe(404);
    expect((await request(demo.url).get('/.env')).status).toBe(404);
  });
});

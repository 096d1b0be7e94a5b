'use strict';

// The seed flow through a site's server, as a visitor walks it: no token goes to /login; a good
// token is greeted by name and remembered in the session; a bad one is refused; an unreachable
// token API is a 502 that the site logs. Used by the README examples' spec, and by .ci/run against
// a fresh site that installed the packed package (run there as `node seed-flow.js server.js …`).
// Plain Node and node:assert only, so it runs anywhere.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');

/** The token API the pages call: 200 with the user for "good-token", 401 for anything else. */
function startTokenApi() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      let token;
      try {
        token = JSON.parse(body).token;
      } catch {
        token = undefined;
      }
      const valid = req.method === 'POST' && token === 'good-token';
      res.writeHead(valid ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(valid ? { user: { name: 'Ada' } } : { error: 'invalid token' }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Starts `node serverFile`; resolves once it says where it listens. */
function startSite(serverFile, env) {
  const child = spawn(process.execPath, [serverFile], {
    cwd: path.dirname(serverFile),
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const site = { child, output: '', url: null, exit: null };
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve((site.exit = code))));
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk) => (site.output += chunk));
  site.stop = () => {
    if (site.exit === null) child.kill();
    return exited;
  };
  site.exited = exited;
  site.ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${serverFile} did not start within 20 s:\n${site.output}`)), 20000);
    child.stdout.on('data', () => {
      const match = /listening on (http:\/\/\S+)/.exec(site.output);
      if (match) {
        clearTimeout(timer);
        site.url = match[1];
        resolve(site);
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${serverFile} exited with ${code} before listening:\n${site.output}`));
    });
  });
  return site;
}

/** Waits until `site.output` matches `pattern` (the site logs after answering). */
async function waitForOutput(site, pattern) {
  for (let i = 0; i < 100 && !pattern.test(site.output); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(site.output, pattern);
}

async function get(site, pathname, cookie) {
  const res = await fetch(site.url + pathname, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Walks the seed flow through `serverFile`; throws (an AssertionError) at the first step that goes wrong. */
async function walkSeedFlow(serverFile) {
  const api = await startTokenApi();
  const env = {
    SESSION_SECRET: 'a-session-secret-for-the-test',
    EGRESS_PASSWORD: 'an-egress-password-for-the-test',
    AUTH_URL: `http://127.0.0.1:${api.address().port}/validate`,
    ALLOWED_RANGES: '127.0.0.0/8',
  };
  const site = await startSite(serverFile, env).ready;
  try {
    const noToken = await get(site, '/welcome');
    assert.equal(noToken.status, 302);
    assert.equal(noToken.headers.get('location'), '/login');

    const login = await get(site, '/login');
    assert.equal(login.status, 200);
    assert.match(login.body, /<form action="\/welcome">/);
    assert.doesNotMatch(login.body, /signed in/);

    const welcome = await get(site, '/welcome?token=good-token');
    assert.equal(welcome.status, 200);
    assert.match(welcome.body, /<h1>Welcome, Ada<\/h1>/);
    const cookie = welcome.headers.get('set-cookie')?.split(';')[0];
    assert.ok(cookie, 'the session cookie is set');

    const again = await get(site, '/login', cookie);
    assert.match(again.body, /You are signed in as Ada\./);

    const refused = await get(site, '/welcome?token=bad');
    assert.equal(refused.status, 403);
    assert.match(refused.body, /That token is not valid\./);

    if (serverFile.endsWith('.mjs')) {
      const health = await get(site, '/healthz');
      assert.equal(typeof JSON.parse(health.body).threads, 'number');
    }

    await new Promise((resolve) => api.close(resolve));
    const down = await get(site, '/welcome?token=good-token');
    assert.equal(down.status, 502);
    assert.match(down.body, /Your token cannot be checked right now/);
    await waitForOutput(site, /welcome\.html error: the token check failed: /);
  } finally {
    api.close();
    await site.stop();
  }

  // Without ALLOWED_RANGES the token API on 127.0.0.1 is blocked, and the site says so in its log.
  const blocked = await startSite(serverFile, { ...env, ALLOWED_RANGES: '' }).ready;
  try {
    const res = await get(blocked, '/welcome?token=good-token');
    assert.equal(res.status, 502);
    await waitForOutput(blocked, /the token check failed: .*(blocked|refused|not allowed)/i);
  } finally {
    await blocked.stop();
  }

  // Without its secrets the site does not start, and says what to set.
  const unset = startSite(serverFile, { SESSION_SECRET: '' });
  unset.ready.catch(() => {});
  const code = await unset.exited;
  assert.equal(code, 1);
  assert.match(unset.output, /Set SESSION_SECRET and EGRESS_PASSWORD first/);
  assert.doesNotMatch(unset.output, /^\s+at /m);
}

module.exports = { walkSeedFlow };

if (require.main === module) {
  (async () => {
    for (const file of process.argv.slice(2)) {
      await walkSeedFlow(path.resolve(file));
      console.log(`seed flow through ${file}: ok`);
    }
  })().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

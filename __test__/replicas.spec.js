'use strict';

// More than one process, as a site grows: two replicas of one site (real Express, express-session
// with its sessions in Redis through connect-redis), one standalone egress proxy process that
// both send their scripts' HTTP through, and Debian's redis-server, all on loopback. The test
// plays the load balancer: it spreads a visitor's requests over the replicas and, when one is
// stopped, sends them to the one left.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { writePages } = require('./support/site');
const { startUpstream } = require('./support/upstream');

const REPLICA = path.join(__dirname, 'support', 'replica.js');
const PROXY_BIN = path.join(__dirname, '..', 'bin', 'backend-scripts-proxy.js');

/** Starts `command` and resolves once `ready` matches its output; stopped after the suite. */
const children = [];
// Generous: on a busy machine loading Express and the redis client alone can take seconds.
function start(command, args, ready, timeoutMs = 60000) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.output = '';
  child.stdoutText = '';
  child.stdout.on('data', (part) => (child.stdoutText += part));
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${path.basename(args[0] ?? command)} did not start:\n${child.output}`)), timeoutMs);
    const look = (part) => {
      child.output += part;
      const match = ready.exec(child.output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('error', (error) => reject(error));
    child.exited.then(({ code, signal }) => reject(new Error(`exited (${code ?? signal}) before it was ready:\n${child.output}`)));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * The test's load balancer: one request to a replica, with the visitor's cookie jar, on a
 * connection of its own (so a replica that stops refuses it, rather than cutting a kept-alive one).
 */
function visit(replica, urlPath, jar) {
  return new Promise((resolve, reject) => {
    const headers = jar.cookie ? { cookie: jar.cookie } : {};
    const req = http.get({ host: '127.0.0.1', port: replica.port, path: urlPath, headers, agent: false }, (res) => {
      const setCookie = res.headers['set-cookie'];
      if (setCookie) jar.cookie = setCookie[0].split(';')[0];
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (part) => (text += part));
      res.on('end', () => resolve({ status: res.statusCode, text, location: res.headers.location ?? null }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Sends each request to the next replica that is up, as a load balancer does. */
function balancer(replicas) {
  let next = 0;
  return async function send(urlPath, jar) {
    const first = next++;
    for (let k = 0; k < replicas.length; k += 1) {
      const replica = replicas[(first + k) % replicas.length];
      if (replica.down) continue;
      try {
        return { replica, ...(await visit(replica, urlPath, jar)) };
      } catch (error) {
        // Refused, or reset before any answer (a connection still in the backlog of a listener
        // that closed): that replica is gone, the request never reached it, and goes to another.
        if (!['ECONNREFUSED', 'ECONNRESET'].includes(error.code)) throw error;
        replica.down = true;
      }
    }
    throw new Error('no replica is up');
  };
}

const PAGES = {
  'login.html': '<h1>Please sign in</h1>',
  'welcome.html': `<script scope="backend">
  const token = request.query.token;
  if (!token) redirect('/login');
  const check = http.post(getVariable('validateUrl'), { token });
  if (check.status !== 200) response.status(403);
  else {
    const user = JSON.parse(check.body).user;
    session.set('user', user);
    setVariable('user_name', user.name);
  }
</script><h1>Welcome, {{ var.user_name }}</h1><p>served by {{ var.replica }}</p>`,
  'account.html': `<script scope="backend">
  const user = session.get('user');
  if (!user) redirect('/login');
  setVariable('user', user);
</script><p>Signed in as {{ var.user.name }}</p><p>served by {{ var.replica }}</p>`,
  'visit.html': `<script scope="backend">
  if (!session.get('user')) redirect('/login');
</script><p>visit {{ var.visits }}</p><p>served by {{ var.replica }}</p>`,
};

describe('two replicas with sessions in Redis, and the egress proxy as a process of its own', () => {
  let dir;
  let upstream;
  let proxy;
  const replicas = [];

  beforeAll(async () => {
    const found = spawnSync('redis-server', ['--version']);
    if (found.error) {
      throw new Error("redis-server is not installed: `apt-get install redis-server` (.ci/run installs it when it's missing)");
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-scripts-replicas-'));
    const root = writePages(PAGES, path.join(dir, 'pages'));
    upstream = await startUpstream();

    const redisPort = await freePort();
    await start(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      /Ready to accept connections/,
    );

    const config = path.join(dir, 'proxy.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        listen: '127.0.0.1:0',
        allowedRanges: ['127.0.0.0/8'],
        credentials: [{ username: 'site', password: 'egress-secret' }],
      }),
    );
    proxy = await start(process.execPath, [PROXY_BIN, '--config', config], /\(port (\d+)\)/);
    // One JSON line per decision on its stdout.
    proxy.decisions = () =>
      proxy.child.stdoutText
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line));

    const settings = JSON.stringify({
      root,
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      proxy: { url: `http://127.0.0.1:${proxy.match[1]}`, username: 'site', password: 'egress-secret' },
      validateUrl: `${upstream.url}/auth/validate`,
    });
    const started = await Promise.all([0, 1].map(() => start(process.execPath, [REPLICA, settings], /\{"port":(\d+)\}/)));
    for (const { child, match } of started) replicas.push({ child, port: Number(match[1]), pid: child.pid, down: false });
  }, 180000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('knows on one replica the visitor who signed in on the other', async () => {
    const jar = {};
    const [a, b] = replicas;
    const signIn = await visit(a, '/welcome?token=good-token', jar);
    expect(signIn.status).toBe(200);
    expect(signIn.text).toContain('<h1>Welcome, Ada</h1>');
    expect(signIn.text).toContain(`served by ${a.pid}`);
    expect(jar.cookie).toMatch(/^connect\.sid=/);
    const account = await visit(b, '/account', jar);
    expect(account.status).toBe(200);
    expect(account.text).toContain('Signed in as Ada');
    expect(account.text).toContain(`served by ${b.pid}`);
    // A visitor with no session is not signed in anywhere.
    expect((await visit(b, '/account', {})).location).toBe('/login');
    // The validation call went through the proxy process, with the site's credentials.
    const decisions = proxy.decisions();
    expect(decisions).toContainEqual(expect.objectContaining({ method: 'POST', username: 'site', allowed: true, status: 200 }));
  });

  it('keeps a visit counter right under concurrent requests spread over both replicas', async () => {
    const jar = {};
    const send = balancer(replicas);
    expect((await send('/welcome?token=good-token', jar)).status).toBe(200);
    const N = 60;
    const pages = await Promise.all(Array.from({ length: N }, () => send('/visit', jar)));
    const counts = pages.map((page) => Number(/visit (\d+)/.exec(page.text)?.[1]));
    // Each request got its own number: none was lost or given twice.
    expect(counts.sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(new Set(pages.map((page) => page.replica.pid))).toEqual(new Set(replicas.map((r) => r.pid)));
    expect((await send('/account', jar)).text).toContain('Signed in as Ada');
  });

  it('goes on serving every visitor, sessions and all, when one replica stops mid-run', async () => {
    const send = balancer(replicas);
    const visitors = Array.from({ length: 4 }, () => ({}));
    for (const jar of visitors) expect((await send('/welcome?token=good-token', jar)).status).toBe(200);
    const served = [];
    const stopping = replicas[0];
    const rounds = 20;
    for (let round = 0; round < rounds; round += 1) {
      if (round === 5) stopping.child.kill('SIGTERM');
      const pages = await Promise.all(visitors.map((jar) => send('/visit', jar)));
      served.push(...pages);
    }
    expect(await stopping.child.exited).toEqual({ code: 0, signal: null });
    expect(stopping.down).toBe(true);
    // Every request was answered, by the replica left once the other had gone.
    expect(served.every((page) => page.status === 200)).toBe(true);
    expect(served.slice(-visitors.length * 10).every((page) => page.replica === replicas[1])).toBe(true);
    // And each visitor's count went on from where it was, without a gap: no session was lost.
    for (const jar of visitors) {
      const last = await send('/visit', jar);
      expect(last.text).toContain(`visit ${rounds + 1}`);
      expect((await send('/account', jar)).text).toContain('Signed in as Ada');
    }
  });
});

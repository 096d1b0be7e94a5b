'use strict';

// The egress proxy (startEgressProxy and bin/backend-scripts-proxy.js), driven by Node's own
// clients and by raw requests sent straight to it, against servers on loopback. Runs inside the
// loopback-only network namespace: no address off this machine can be reached from here.
const { spawn } = require('node:child_process');
const dns = require('node:dns');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { startEgressProxy } = require('../index.js');
const { startDeadPort } = require('./support/proxy');
const { getTls } = require('./support/tls');
const { startDns } = require('./support/dns');
const { startUpstream } = require('./support/upstream');

const USER = 'app';
const PASSWORD = 's3cret';
const CREDENTIALS = [{ username: USER, password: PASSWORD }];
const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const AUTH = basic(USER, PASSWORD);
const LOOPBACK = ['127.0.0.0/8'];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `probe()` returns something truthy; fails after `ms`. */
async function waitFor(probe, ms = 3000) {
  const started = Date.now();
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${probe}`);
    await sleep(10);
  }
}

/** A proxy whose decisions are collected in `proxy.decisions`; closed after the suite. */
const started = [];
async function proxyWith(options = {}) {
  const decisions = [];
  const proxy = await startEgressProxy({ credentials: CREDENTIALS, onDecision: (d) => decisions.push(d), ...options });
  proxy.decisions = decisions;
  started.push(proxy);
  return proxy;
}
afterAll(() => Promise.all(started.map((proxy) => proxy.close())));

function parseResponse(text) {
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = split < 0 ? '' : text.slice(split + 4);
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
  return { status: Number(statusLine.split(' ')[1]) || 0, headers, body };
}

function unchunk(text) {
  let out = '';
  for (let rest = text; ;) {
    const lineEnd = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (!size) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

/**
 * Sends `text` as-is to the proxy and resolves with the parsed response once the proxy closes
 * the connection (plain requests here carry `Connection: close`; refused CONNECTs are closed).
 */
function rawRequest(port, text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const parts = [];
    const timer = setTimeout(() => socket.destroy(new Error('no answer within 5 s')), 5000);
    socket.on('data', (part) => parts.push(part));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(parts).toString('latin1')));
    });
    socket.write(text);
  });
}

const rawGet = (port, url, headers = `Proxy-Authorization: ${AUTH}\r\n`) =>
  rawRequest(port, `GET ${url} HTTP/1.1\r\nHost: ignored\r\n${headers}Connection: close\r\n\r\n`);
const rawConnect = (port, authority, headers = `Proxy-Authorization: ${AUTH}\r\n`) =>
  rawRequest(port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${headers}\r\n`);

/** One request through the proxy with Node's http client, absolute-form. */
function viaProxy(proxy, url, { method = 'GET', headers = { 'proxy-authorization': AUTH }, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port, method, path: url, headers, agent: false }, (res) => {
      const parts = [];
      res.on('data', (part) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** CONNECT through the proxy; resolves with the status and the socket (the tunnel on 200). */
function openTunnel(proxy, authority, headers = { 'proxy-authorization': AUTH }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port, method: 'CONNECT', path: authority, headers, agent: false });
    req.on('connect', (res, socket) => resolve({ status: res.statusCode, headers: res.headers, socket }));
    req.on('error', reject);
    req.end();
  });
}

/** An https request to `url` inside a CONNECT tunnel, with Node's https client and the test CA. */
async function httpsViaProxy(proxy, url) {
  const target = new URL(url);
  const { caPem } = await getTls();
  const tunnel = await openTunnel(proxy, target.host);
  if (tunnel.status !== 200) {
    tunnel.socket.destroy();
    throw new Error(`CONNECT answered ${tunnel.status}`);
  }
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: target.hostname,
        path: target.pathname + target.search,
        // Without an agent, Node uses createConnection: TLS over the tunnel.
        createConnection: () => tls.connect({ socket: tunnel.socket, host: target.hostname, ca: caPem }),
      },
      (res) => {
        const parts = [];
        res.on('data', (part) => parts.push(part));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts).toString() }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A TCP server on `host` that counts connections and never answers: nothing may reach it. */
async function startTrap(host = '127.0.0.1', port = 0) {
  const sockets = new Set();
  const trap = { connections: 0 };
  const server = net.createServer((socket) => {
    trap.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  trap.port = server.address().port;
  trap.close = () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(resolve);
    });
  return trap;
}

let upstream;
let secureUpstream;
beforeAll(async () => {
  [upstream, secureUpstream] = await Promise.all([startUpstream(), startUpstream({ tls: true })]);
});
afterAll(() => Promise.all([upstream.close(), secureUpstream.close()]));

describe('startEgressProxy', () => {
  it('rejects missing credentials, bad ranges and a callback that is not a function', async () => {
    await expect(startEgressProxy()).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    await expect(startEgressProxy({})).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
      message: expect.stringContaining('options.credentials'),
    });
    await expect(startEgressProxy({ credentials: [] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(startEgressProxy({ credentials: CREDENTIALS, allowedRanges: ['10.0.0.1/8'] })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
      message: expect.stringContaining('did you mean "10.0.0.0/8"'),
    });
    await expect(startEgressProxy({ credentials: CREDENTIALS, listen: 'localhost:1' })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
    });
    await expect(startEgressProxy({ credentials: CREDENTIALS, onDecision: 'log' })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
      message: expect.stringContaining('options.onDecision'),
    });
    await expect(startEgressProxy({ credentials: CREDENTIALS, maxHeaderBytes: 10 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
    });
  });

  it('rejects with EADDRINUSE when the port is taken', async () => {
    const trap = await startTrap();
    await expect(startEgressProxy({ credentials: CREDENTIALS, listen: `127.0.0.1:${trap.port}` })).rejects.toMatchObject({
      code: 'EADDRINUSE',
      message: expect.stringContaining(`cannot listen on 127.0.0.1:${trap.port}`),
    });
    await trap.close();
  });
});

describe('the egress proxy with loopback allowed', () => {
  let proxy;
  beforeAll(async () => {
    proxy = await proxyWith({ allowedRanges: LOOPBACK });
  });

  it('has a URL without credentials and a port', () => {
    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
    expect(new URL(proxy.url).username).toBe('');
  });

  it('forwards an absolute-form http request with no proxy, hop-by-hop or identifying headers', async () => {
    const res = await viaProxy(proxy, `${upstream.url}/echo?via=proxy`, {
      method: 'POST',
      headers: {
        'proxy-authorization': AUTH,
        'proxy-connection': 'keep-alive',
        connection: 'keep-alive, x-hop',
        'x-hop': 'private',
        'content-type': 'text/plain',
        'x-end-to-end': 'kept',
      },
      body: 'héllo',
    });
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.body);
    expect(echoed).toMatchObject({ method: 'POST', url: '/echo?via=proxy', body: 'héllo' });
    expect(echoed.headers).toMatchObject({ host: `127.0.0.1:${upstream.port}`, 'x-end-to-end': 'kept', 'content-type': 'text/plain' });
    for (const name of ['proxy-authorization', 'proxy-connection', 'x-hop', 'via', 'forwarded', 'x-forwarded-for']) {
      expect(echoed.headers).not.toHaveProperty(name);
    }
  });

  it('reports every request to onDecision with its outcome, address and bytes', async () => {
    const url = `${upstream.url}/json?decision`;
    const res = await viaProxy(proxy, url);
    expect(res.status).toBe(200);
    const decision = await waitFor(() => proxy.decisions.find((d) => d.target === url));
    expect(decision).toEqual({
      client: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      username: USER,
      method: 'GET',
      target: url,
      allowed: true,
      status: 200,
      rule: null,
      reason: null,
      address: `127.0.0.1:${upstream.port}`,
      bytesUp: expect.any(Number),
      bytesDown: expect.any(Number),
      durationMs: expect.any(Number),
    });
    expect(decision.bytesUp).toBeGreaterThan(0);
    expect(decision.bytesDown).toBeGreaterThan(res.body.length);
  });

  it("tunnels https through CONNECT for Node's https client with the test CA", async () => {
    const res = await httpsViaProxy(proxy, `${secureUpstream.url}/json`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ ok: true, items: [1, 2, 3] });
    const target = `127.0.0.1:${secureUpstream.port}`;
    const decision = await waitFor(() => proxy.decisions.find((d) => d.method === 'CONNECT' && d.target === target));
    expect(decision).toMatchObject({ allowed: true, status: 200, address: target, username: USER });
    expect(decision.bytesDown).toBeGreaterThan(0);
  });

  it('answers 407 with the Basic challenge to a request without credentials, and forwards nothing', async () => {
    const res = await viaProxy(proxy, `${upstream.url}/json?no-credentials`, { headers: {} });
    expect(res.status).toBe(407);
    expect(res.headers['proxy-authenticate']).toBe('Basic realm="backend-scripts egress"');
    expect(res.body).toMatch(/requires credentials/);
    expect(upstream.hits.map((hit) => hit.url)).not.toContain('/json?no-credentials');
  });

  it('answers 407 to a wrong password, a wrong user and a malformed header', async () => {
    for (const header of [basic(USER, 'wrong'), basic('nobody', PASSWORD), 'Bearer abc', 'Basic !!!']) {
      const res = await viaProxy(proxy, `${upstream.url}/json?wrong`, { headers: { 'proxy-authorization': header } });
      expect(res.status).toBe(407);
    }
    expect(upstream.hits.map((hit) => hit.url)).not.toContain('/json?wrong');
    const decision = await waitFor(() => proxy.decisions.find((d) => d.rule === 'proxy-auth' && d.username === 'nobody'));
    expect(decision).toMatchObject({ allowed: false, status: 407, address: null });
    expect(JSON.stringify(proxy.decisions)).not.toContain(PASSWORD);
  });

  it('answers 407 to a CONNECT without credentials and closes the connection', async () => {
    const tunnel = await openTunnel(proxy, `127.0.0.1:${secureUpstream.port}`, {});
    expect(tunnel.status).toBe(407);
    expect(tunnel.headers['proxy-authenticate']).toMatch(/^Basic /);
    await new Promise((resolve) => (tunnel.socket.destroyed ? resolve() : tunnel.socket.on('close', resolve).resume()));
  });

  it('refuses to connect to itself', async () => {
    for (const res of [await rawGet(proxy.port, `${proxy.url}/`), await rawConnect(proxy.port, `127.0.0.1:${proxy.port}`)]) {
      expect(res.status).toBe(403);
      expect(res.headers['x-egress-denied']).toBe('own-address');
      expect(res.body).toMatch(/is the egress proxy itself/);
    }
  });

  it('answers 502 with a plain reason when nothing listens at the destination', async () => {
    const port = await startDeadPort();
    const res = await rawGet(proxy.port, `http://127.0.0.1:${port}/`);
    expect(res.status).toBe(502);
    expect(res.headers['x-egress-error']).toBe('connect-failed');
    expect(res.body).toBe(`cannot connect to 127.0.0.1:${port}: connection refused\n`);
  });

  it('refuses https:// in a plain request and an origin-form request', async () => {
    const https_ = await rawGet(proxy.port, `https://127.0.0.1:${secureUpstream.port}/json`);
    expect(https_.status).toBe(400);
    expect(https_.body).toMatch(/CONNECT/);
    const origin = await rawGet(proxy.port, '/json');
    expect(origin.status).toBe(400);
    expect(origin.headers['x-egress-error']).toBe('bad-request');
  });

  it('counts requests, outcomes and bytes in stats()', async () => {
    const stats = proxy.stats();
    expect(stats.requests).toBeGreaterThanOrEqual(10);
    expect(stats.allowed).toBeGreaterThanOrEqual(3);
    expect(stats.authFailures).toBeGreaterThanOrEqual(5);
    expect(stats.denied).toBeGreaterThanOrEqual(2);
    expect(stats.failed).toBeGreaterThanOrEqual(1);
    expect(stats.bytesUp).toBeGreaterThan(0);
    expect(stats.bytesDown).toBeGreaterThan(0);
    expect(stats.droppedDecisions).toBe(0);
    expect(Object.keys(stats).sort()).toEqual([
      'activeTunnels',
      'allowed',
      'authFailures',
      'bytesDown',
      'bytesUp',
      'denied',
      'droppedDecisions',
      'failed',
      'requests',
    ]);
  });
});

describe('the SSRF battery, sent raw to the proxy', () => {
  let proxy;
  let trap;
  beforeAll(async () => {
    // Checked again here: these requests aim at blocked destinations on purpose.
    expect(Object.keys(os.networkInterfaces())).toEqual(['lo']);
    [proxy, trap] = await Promise.all([proxyWith(), startTrap()]);
  });
  afterAll(() => trap.close());

  const t = () => trap.port;
  const urls = [
    ['loopback', () => `http://127.0.0.1:${t()}/`, 'blocked-address', '127.0.0.1'],
    ['loopback elsewhere in 127/8', () => `http://127.1.2.3:${t()}/`, 'blocked-address', '127.1.2.3'],
    ['10/8', () => 'http://10.0.0.1/', 'blocked-address', '10.0.0.1'],
    ['172.16/12', () => 'http://172.16.0.1/', 'blocked-address', '172.16.0.1'],
    ['172.31 edge of 172.16/12', () => 'http://172.31.255.255/', 'blocked-address', '172.31.255.255'],
    ['192.168/16', () => 'http://192.168.1.1/', 'blocked-address', '192.168.1.1'],
    ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/', 'blocked-address', 'cloud metadata'],
    ['carrier-grade NAT 100.64/10', () => 'http://100.64.0.1/', 'blocked-address', '100.64.0.1'],
    ['0.0.0.0', () => `http://0.0.0.0:${t()}/`, 'blocked-address', '0.0.0.0'],
    ['multicast', () => 'http://224.0.0.1/', 'blocked-address', 'multicast'],
    ['broadcast', () => 'http://255.255.255.255/', 'blocked-address', 'broadcast'],
    ['IPv6 loopback ::1', () => `http://[::1]:${t()}/`, 'blocked-address', '::1'],
    ['IPv6 unique local fc00::/7', () => 'http://[fc00::1]/', 'blocked-address', 'fc00::1'],
    ['IPv6 link-local fe80::/10', () => 'http://[fe80::1]/', 'blocked-address', 'fe80::1'],
    ['IPv4-mapped loopback', () => `http://[::ffff:127.0.0.1]:${t()}/`, 'blocked-address', '::ffff:127.0.0.1'],
    ['decimal loopback', () => `http://2130706433:${t()}/`, 'blocked-address', '127.0.0.1'],
    ['octal loopback', () => `http://0177.0.0.1:${t()}/`, 'blocked-address', '127.0.0.1'],
    ['hex loopback', () => `http://0x7f.0.0.1:${t()}/`, 'blocked-address', '127.0.0.1'],
    ['hex dword loopback', () => `http://0x7f000001:${t()}/`, 'blocked-address', '127.0.0.1'],
    ['short loopback', () => `http://127.1:${t()}/`, 'blocked-address', '127.0.0.1'],
    ['octal metadata', () => 'http://0251.0376.0251.0376/', 'blocked-address', '169.254.169.254'],
    ['localhost', () => `http://localhost:${t()}/`, 'blocked-host', 'localhost'],
    ['localhost with a trailing dot', () => `http://LOCALHOST.:${t()}/`, 'blocked-host', 'localhost'],
    ['a subdomain of localhost', () => `http://app.localhost:${t()}/`, 'blocked-host', 'app.localhost'],
    ['*.internal', () => 'http://metadata.google.internal/computeMetadata/v1/', 'blocked-host', '.internal'],
    ['*.local', () => 'http://printer.local/', 'blocked-host', '.local'],
    ['a single-label name', () => 'http://intranet/', 'blocked-host', 'without a dot'],
    ['userinfo', () => `http://user:pass@127.0.0.1:${t()}/`, 'userinfo', 'user name or password'],
    ['another scheme', () => `ftp://127.0.0.1:${t()}/`, 'scheme', 'ftp:'],
  ];

  it.each(urls)('refuses %s in an absolute-form request with 403 and the rule', async (_, url, rule, inReason) => {
    const res = await rawGet(proxy.port, url());
    expect(res.status).toBe(403);
    expect(res.headers['x-egress-denied']).toBe(rule);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toContain(inReason);
    expect(res.body).not.toContain('pass@127');
  });

  const authorities = [
    ['loopback', () => `127.0.0.1:${t()}`, 'blocked-address'],
    ['decimal loopback', () => `2130706433:${t()}`, 'blocked-address'],
    ['hex loopback', () => `0x7f.1:${t()}`, 'blocked-address'],
    ['0.0.0.0', () => `0.0.0.0:${t()}`, 'blocked-address'],
    ['cloud metadata', () => '169.254.169.254:80', 'blocked-address'],
    ['10/8', () => '10.1.2.3:443', 'blocked-address'],
    ['IPv6 loopback', () => `[::1]:${t()}`, 'blocked-address'],
    ['IPv4-mapped metadata', () => '[::ffff:a9fe:a9fe]:80', 'blocked-address'],
    ['IPv6 unique local', () => '[fd00:ec2::254]:80', 'blocked-address'],
    ['localhost', () => `localhost:${t()}`, 'blocked-host'],
    ['*.internal', () => 'metadata.google.internal:443', 'blocked-host'],
    ['a single-label name', () => 'intranet:443', 'blocked-host'],
    ['userinfo', () => `user:pass@127.0.0.1:${t()}`, 'userinfo'],
    ['no port', () => 'example.com', 'invalid-authority'],
  ];

  it.each(authorities)('refuses %s in a CONNECT with 403 and the rule, and closes', async (_, authority, rule) => {
    const res = await rawConnect(proxy.port, authority());
    expect(res.status).toBe(403);
    expect(res.headers['x-egress-denied']).toBe(rule);
    expect(res.headers.connection).toBe('close');
  });

  it('connected to nothing: the trap saw no connection and no refusal has an address', async () => {
    await sleep(50);
    expect(trap.connections).toBe(0);
    const refusals = await waitFor(() => proxy.decisions.length >= urls.length + authorities.length && proxy.decisions);
    expect(refusals.every((d) => d.allowed === false && d.status === 403 && d.address === null && d.bytesUp === 0)).toBe(true);
    expect(JSON.stringify(refusals)).not.toContain('pass@127');
    expect(proxy.stats()).toMatchObject({ allowed: 0, failed: 0, denied: urls.length + authorities.length });
  });

  it('answers with the same words the policy gives, for the addon to show', async () => {
    const res = await rawGet(proxy.port, 'http://169.254.169.254/');
    expect(res.body).toBe(
      'destination 169.254.169.254 is blocked: link-local address (169.254.0.0/16), which includes cloud metadata endpoints\n',
    );
  });

  it('applies deniedRanges and deniedHosts on top of allowedRanges', async () => {
    const strict = await proxyWith({ allowedRanges: LOOPBACK, deniedRanges: ['127.0.0.2/32'], deniedHosts: ['*.blocked.example'] });
    const denied = await rawGet(strict.port, `http://127.0.0.2:${t()}/`);
    expect(denied.status).toBe(403);
    expect(denied.headers['x-egress-denied']).toBe('denied-address');
    expect(denied.body).toBe('destination 127.0.0.2 is denied by the deniedRanges entry 127.0.0.2/32\n');
    const host = await rawGet(strict.port, 'http://api.blocked.example/');
    expect(host.headers['x-egress-denied']).toBe('denied-host');
    const connect = await rawConnect(strict.port, 'blocked.example:443');
    expect(connect.headers['x-egress-denied']).toBe('denied-host');
    expect(trap.connections).toBe(0);
  });
});

describe('DNS rebinding, with the proxy resolving through a DNS server the test controls', () => {
  const PUBLIC = '93.184.216.34';
  let trap;
  beforeAll(async () => {
    expect(Object.keys(os.networkInterfaces())).toEqual(['lo']);
    trap = await startTrap();
  });
  afterAll(() => trap.close());

  it('refuses a name that answered a public address to the client and 127.0.0.1 to the proxy', async () => {
    const server = await startDns((query, nth) => ({ a: [nth === 1 ? PUBLIC : '127.0.0.1'] }));
    const proxy = await proxyWith({ resolver: server.address });
    // The client's own check (the addon resolves before sending) sees only the public address.
    const resolver = new dns.promises.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([server.address]);
    expect(await resolver.resolve4('rebind.example')).toEqual([PUBLIC]);

    const res = await rawGet(proxy.port, `http://rebind.example:${trap.port}/`);
    expect(res.status).toBe(403);
    expect(res.headers['x-egress-denied']).toBe('blocked-address');
    expect(res.body).toBe('destination 127.0.0.1 is blocked: loopback address (127.0.0.0/8), which is this machine\n');
    const tunnel = await rawConnect(proxy.port, `rebind.example:${trap.port}`);
    expect(tunnel.headers['x-egress-denied']).toBe('blocked-address');
    expect(trap.connections).toBe(0);
    await server.close();
  });

  it('refuses a name when any one of its addresses is blocked, without connecting to the others', async () => {
    const server = await startDns(() => ({ a: [PUBLIC, '127.0.0.1'] }));
    const proxy = await proxyWith({ resolver: server.address });
    const res = await rawGet(proxy.port, `http://mixed.example:${trap.port}/`);
    expect(res.status).toBe(403);
    expect(res.headers['x-egress-denied']).toBe('blocked-address');
    const decision = await waitFor(() => proxy.decisions[0]);
    expect(decision).toMatchObject({ allowed: false, rule: 'blocked-address', address: null, bytesUp: 0 });
    expect(trap.connections).toBe(0);
    await server.close();
  });

  it('connects to exactly the address it checked and never resolves the name again', async () => {
    // The destination on 127.0.0.1; a trap on 127.0.0.2 at the same port, which the name
    // points to from the second query on: re-resolving at connect time would land there.
    const rebound = await startTrap('127.0.0.2', upstream.port);
    const server = await startDns((query, nth) => ({ a: [nth === 1 ? '127.0.0.1' : '127.0.0.2'] }));
    try {
      const proxy = await proxyWith({ resolver: server.address, allowedRanges: ['127.0.0.1/32'] });
      const res = await rawGet(proxy.port, `http://rebind.example:${upstream.port}/json`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ ok: true, items: [1, 2, 3] });
      expect(server.queries.filter((q) => q.type === 'A')).toHaveLength(1);
      const decision = await waitFor(() => proxy.decisions[0]);
      expect(decision).toMatchObject({ allowed: true, address: `127.0.0.1:${upstream.port}` });
      expect(upstream.hits.at(-1).headers.host).toBe(`rebind.example:${upstream.port}`);

      // The next request resolves anew, gets 127.0.0.2, and is judged on that.
      const next = await rawGet(proxy.port, `http://rebind.example:${upstream.port}/json`);
      expect(next.status).toBe(403);
      expect(next.body).toContain('destination 127.0.0.2 is blocked');
      expect(rebound.connections).toBe(0);
    } finally {
      await Promise.all([rebound.close(), server.close()]);
    }
  });

  it('answers 502 when the name does not exist and 504 when the resolver does not answer', async () => {
    const server = await startDns((query) => (query.name === 'silent.example' ? { silent: true } : { rcode: 3 }));
    const proxy = await proxyWith({ resolver: server.address, resolveTimeoutMs: 300 });
    const missing = await rawGet(proxy.port, 'http://missing.example/');
    expect(missing.status).toBe(502);
    expect(missing.headers['x-egress-error']).toBe('resolve-failed');
    expect(missing.body).toBe('cannot resolve host "missing.example": no such host\n');
    const started = Date.now();
    const silent = await rawConnect(proxy.port, 'silent.example:443');
    expect(silent.status).toBe(504);
    expect(silent.body).toBe('resolving host "silent.example" timed out after 300 ms\n');
    expect(Date.now() - started).toBeLessThan(2000);
    await server.close();
  });
});

describe("the proxy's limits", () => {
  it('refuses a client past maxTunnelsPerClient with 429, and admits it again once one closes', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK, maxTunnelsPerClient: 2 });
    const authority = `127.0.0.1:${upstream.port}`;
    const first = await openTunnel(proxy, authority);
    const second = await openTunnel(proxy, authority);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(proxy.stats().activeTunnels).toBe(2);
    const third = await openTunnel(proxy, authority);
    expect(third.status).toBe(429);
    expect(third.headers['x-egress-error']).toBe('tunnel-limit');
    third.socket.destroy();
    first.socket.destroy();
    await waitFor(() => proxy.stats().activeTunnels === 1);
    const fourth = await openTunnel(proxy, authority);
    expect(fourth.status).toBe(200);
    second.socket.destroy();
    fourth.socket.destroy();
    await waitFor(() => proxy.stats().activeTunnels === 0);
  });

  it('answers 431 to a request head over maxHeaderBytes', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK, maxHeaderBytes: 2048 });
    const big = await rawGet(proxy.port, `${upstream.url}/json`, `Proxy-Authorization: ${AUTH}\r\nX-Padding: ${'a'.repeat(4096)}\r\n`);
    expect(big.status).toBe(431);
    const small = await rawGet(proxy.port, `${upstream.url}/json`, `Proxy-Authorization: ${AUTH}\r\nX-Padding: ${'a'.repeat(1024)}\r\n`);
    expect(small.status).toBe(200);
  });

  it('closes a tunnel that stays idle past idleTimeoutMs, but not a slow stream that keeps moving', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK, idleTimeoutMs: 300 });
    const tunnel = await openTunnel(proxy, `127.0.0.1:${upstream.port}`);
    expect(tunnel.status).toBe(200);
    const opened = Date.now();
    await new Promise((resolve) => tunnel.socket.on('close', resolve).resume());
    const lasted = Date.now() - opened;
    expect(lasted).toBeGreaterThanOrEqual(250);
    expect(lasted).toBeLessThan(2000);

    const trickle = await viaProxy(proxy, `${upstream.url}/trickle?ms=100&chunks=8`);
    expect(trickle.status).toBe(200);
    expect(trickle.body).toBe('xxxxxxxx');
  });

  it('carries many concurrent https tunnels', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK });
    const results = await Promise.all(Array.from({ length: 100 }, () => httpsViaProxy(proxy, `${secureUpstream.url}/json`)));
    expect(results.every((r) => r.status === 200 && JSON.parse(r.body).ok === true)).toBe(true);
    await waitFor(() => proxy.stats().activeTunnels === 0, 5000);
    expect(proxy.stats().allowed).toBe(100);
  });
});

describe('close()', () => {
  it('lets an in-flight request finish, then releases the port', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK });
    const inFlight = viaProxy(proxy, `${upstream.url}/slow?ms=500`);
    await sleep(150);
    const closing = proxy.close();
    // New connections are refused at once, while the running request goes on.
    await sleep(50);
    const refused = await new Promise((resolve) =>
      net
        .connect({ host: '127.0.0.1', port: proxy.port })
        .on('error', resolve)
        .on('connect', () => resolve(null)),
    );
    expect(refused).toMatchObject({ code: 'ECONNREFUSED' });
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body).toBe('slow done');
    await closing;
    const reuse = net.createServer();
    await new Promise((resolve, reject) => reuse.once('error', reject).listen(proxy.port, '127.0.0.1', resolve));
    await new Promise((resolve) => reuse.close(resolve));
    await proxy.close(); // a second close is harmless
  });

  it('cuts a tunnel still open at the shutdown deadline', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK, shutdownTimeoutMs: 300 });
    const tunnel = await openTunnel(proxy, `127.0.0.1:${upstream.port}`);
    expect(tunnel.status).toBe(200);
    const socketClosed = new Promise((resolve) => tunnel.socket.on('close', resolve).resume());
    const started = Date.now();
    await proxy.close();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2000);
    await socketClosed;
    const decision = await waitFor(() => proxy.decisions.find((d) => d.method === 'CONNECT'));
    expect(decision).toMatchObject({ allowed: true, status: 200 });
  });
});

describe('the command line', () => {
  const bin = path.join(__dirname, '..', 'bin', 'backend-scripts-proxy.js');
  let dir;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'egress-proxy-'));
    fs.writeFileSync(path.join(dir, 'credentials'), `# user:password\n\n${USER}:${PASSWORD}\nother:pa:ss\n`);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function run(args) {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.out = '';
    child.err = '';
    child.stdout.on('data', (part) => (child.out += part));
    child.stderr.on('data', (part) => (child.err += part));
    child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    return child;
  }

  it('starts, answers, logs each decision as a JSON line, and stops on SIGTERM', async () => {
    const child = run(['--listen', '127.0.0.1:0', '--credentials-file', path.join(dir, 'credentials'), '--allowed-range', '127.0.0.0/8']);
    try {
      const port = Number((await waitFor(() => /\(port (\d+)\)/.exec(child.err), 10000))[1]);
      const proxy = { port };
      const ok = await viaProxy(proxy, `${upstream.url}/json?cli`);
      expect(ok.status).toBe(200);
      const other = await viaProxy(proxy, `${upstream.url}/json?cli-other`, {
        headers: { 'proxy-authorization': basic('other', 'pa:ss') },
      });
      expect(other.status).toBe(200);
      const denied = await viaProxy(proxy, 'http://169.254.169.254/');
      expect(denied.status).toBe(403);
      const lines = await waitFor(() => {
        const parsed = child.out
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line));
        return parsed.length >= 3 && parsed;
      });
      expect(lines[0]).toMatchObject({ method: 'GET', target: `${upstream.url}/json?cli`, allowed: true, status: 200, username: USER });
      expect(lines[0].time).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(lines[1]).toMatchObject({ username: 'other', allowed: true });
      expect(lines[2]).toMatchObject({ allowed: false, status: 403, rule: 'blocked-address' });
      child.kill('SIGTERM');
      expect(await child.exited).toEqual({ code: 0, signal: null });
      expect(child.err).toMatch(/SIGTERM, closing\n.*closed\n$/s);
      const refused = await new Promise((resolve) =>
        net
          .connect({ host: '127.0.0.1', port })
          .on('error', resolve)
          .on('connect', () => resolve(null)),
      );
      expect(refused).toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('explains a missing or unreadable credentials file and exits with status 2', async () => {
    const none = run(['--listen', '127.0.0.1:0']);
    expect(await none.exited).toEqual({ code: 2, signal: null });
    expect(none.err).toMatch(/--credentials-file is required/);
    const missing = run(['--credentials-file', path.join(dir, 'nope')]);
    expect(await missing.exited).toEqual({ code: 2, signal: null });
    expect(missing.err).toMatch(/cannot read the credentials file/);
    fs.writeFileSync(path.join(dir, 'bad'), 'no-colon\n');
    const bad = run(['--credentials-file', path.join(dir, 'bad')]);
    expect(await bad.exited).toEqual({ code: 2, signal: null });
    expect(bad.err).toMatch(/line 1 is not username:password/);
  });
});

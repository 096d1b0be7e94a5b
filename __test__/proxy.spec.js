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

  it('rejects with EADDRINUSE when the port, or the metrics port, is taken', async () => {
    const trap = await startTrap();
    await expect(startEgressProxy({ credentials: CREDENTIALS, listen: `127.0.0.1:${trap.port}` })).rejects.toMatchObject({
      code: 'EADDRINUSE',
      message: expect.stringContaining(`cannot listen on 127.0.0.1:${trap.port}`),
    });
    await expect(startEgressProxy({ credentials: CREDENTIALS, metricsListen: `127.0.0.1:${trap.port}` })).rejects.toMatchObject({
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
      reported: false,
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
      'reported',
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
    expect(big.headers['x-egress-error']).toBe('header-too-large');
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

/** Runs the proxy's command line; `out` and `err` collect its output. */
function run(args) {
  const bin = path.join(__dirname, '..', 'bin', 'backend-scripts-proxy.js');
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.out = '';
  child.err = '';
  child.stdout.on('data', (part) => (child.out += part));
  child.stderr.on('data', (part) => (child.err += part));
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return child;
}

describe('the command line', () => {
  let dir;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'egress-proxy-'));
    fs.writeFileSync(path.join(dir, 'credentials'), `# user:password\n\n${USER}:${PASSWORD}\nother:pa:ss\n`);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

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
    expect(none.err).toMatch(/--config or --credentials-file is required/);
    const missing = run(['--credentials-file', path.join(dir, 'nope')]);
    expect(await missing.exited).toEqual({ code: 2, signal: null });
    expect(missing.err).toMatch(/cannot read the credentials file/);
    fs.writeFileSync(path.join(dir, 'bad'), 'no-colon\n');
    const bad = run(['--credentials-file', path.join(dir, 'bad')]);
    expect(await bad.exited).toEqual({ code: 2, signal: null });
    expect(bad.err).toMatch(/line 1 is not username:password/);
  });
});

/** Sends several raw requests on one connection and resolves with every response read. */
function rawExchange(port, text, count) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => finish(), 3000);
    const responses = () => {
      const out = [];
      let rest = received.toString('latin1');
      while (rest.includes('\r\n\r\n')) {
        const end = rest.indexOf('\r\n\r\n') + 4;
        const head = rest.slice(0, end);
        let length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (/transfer-encoding: chunked/i.test(head)) {
          const last = rest.indexOf('0\r\n\r\n', end);
          if (last < 0) break;
          length = last + 5 - end;
        }
        if (rest.length < end + length) break;
        out.push(parseResponse(rest.slice(0, end + length)));
        rest = rest.slice(end + length);
      }
      return out;
    };
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(responses());
    };
    socket.on('data', (part) => {
      received = Buffer.concat([received, part]);
      if (responses().length >= count) finish();
    });
    socket.on('error', reject);
    socket.on('close', finish);
    socket.write(text);
  });
}

describe("the proxy's own answer to a request head it will not read", () => {
  let proxy;
  beforeAll(async () => {
    proxy = await proxyWith({ allowedRanges: LOOPBACK });
  });

  it('answers a 20 KB URL with 431 and its rule, and counts and decides it', async () => {
    const before = proxy.stats();
    const res = await rawGet(proxy.port, `${upstream.url}/json?${'q'.repeat(20 * 1024)}`);
    expect(res.status).toBe(431);
    expect(res.headers['x-egress-error']).toBe('header-too-large');
    expect(res.headers.connection).toBe('close');
    expect(res.body).toBe('the request line and headers are larger than the egress proxy reads: at most 16384 bytes (maxHeaderBytes)\n');
    const decision = await waitFor(() => proxy.decisions.find((d) => d.rule === 'header-too-large'));
    expect(decision).toMatchObject({ method: 'GET', allowed: false, status: 431, username: null, address: null });
    expect(decision.target).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/json\?q+…$/);
    expect(decision.target.length).toBeLessThan(1100);
    expect(proxy.stats()).toMatchObject({ requests: before.requests + 1, denied: before.denied + 1 });
    expect(upstream.hits.some((hit) => hit.url.length > 20000)).toBe(false);
  });

  it('answers a 20 KB header and 101 header fields with 431, and a malformed head with 400, each marked', async () => {
    const big = await rawGet(proxy.port, `${upstream.url}/json`, `Proxy-Authorization: ${AUTH}\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\n`);
    expect([big.status, big.headers['x-egress-error']]).toEqual([431, 'header-too-large']);
    const fields = Array.from({ length: 101 }, (_, i) => `X-F${i}: 1\r\n`).join('');
    const many = await rawGet(proxy.port, `${upstream.url}/json`, `Proxy-Authorization: ${AUTH}\r\n${fields}`);
    expect([many.status, many.headers['x-egress-error']]).toEqual([431, 'header-too-large']);
    expect(many.body).toMatch(/more header fields than the egress proxy reads: at most 100/);
    const malformed = await rawGet(proxy.port, `${upstream.url}/json`, `Proxy-Authorization: ${AUTH}\r\nBad Header: 1\r\n`);
    expect([malformed.status, malformed.headers['x-egress-error']]).toEqual([400, 'bad-request']);
    const smuggle = await rawRequest(
      proxy.port,
      `POST ${upstream.url}/echo HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${AUTH}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    expect([smuggle.status, smuggle.headers['x-egress-error']]).toEqual([400, 'bad-request']);
    expect(smuggle.body).toMatch(/both Content-Length and Transfer-Encoding/);
    await waitFor(() => proxy.decisions.filter((d) => ['header-too-large', 'bad-request'].includes(d.rule)).length >= 5);
  });

  it('reads each head of a kept-alive connection, past bodies that look like heads', async () => {
    const body = `GET ${upstream.url}/json HTTP/1.1\r\n\r\n`;
    const [posted, next, tooBig] = await rawExchange(
      proxy.port,
      `POST ${upstream.url}/echo HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${AUTH}\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
        `GET ${upstream.url}/json?second HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${AUTH}\r\n\r\n` +
        `GET ${upstream.url}/json?${'q'.repeat(17000)} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${AUTH}\r\n\r\n`,
      3,
    );
    expect(posted.status).toBe(200);
    expect(JSON.parse(posted.body).body).toBe(body);
    expect(next.status).toBe(200);
    expect(JSON.parse(next.body)).toEqual({ ok: true, items: [1, 2, 3] });
    expect([tooBig.status, tooBig.headers['x-egress-error']]).toEqual([431, 'header-too-large']);
  });
});

describe('a destination cannot speak for the proxy', () => {
  it('has its X-Egress-Denied and X-Egress-Error removed from the responses the proxy forwards', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK });
    const res = await viaProxy(proxy, `${upstream.url}/impersonate?status=502`);
    expect(res.status).toBe(502);
    expect(res.body).toBe('the egress proxy refused this (not really)\n');
    expect(res.headers).not.toHaveProperty('x-egress-denied');
    expect(res.headers).not.toHaveProperty('x-egress-error');
    const decision = await waitFor(() => proxy.decisions.find((d) => d.target.includes('/impersonate')));
    expect(decision).toMatchObject({ allowed: true, status: 502, rule: null });
  });
});

describe('per-credential rules, as a boundary between sites', () => {
  let dns;
  let trap;
  beforeAll(async () => {
    dns = await startDns((query) => (query.name.endsWith('.test') ? { a: ['127.0.0.1'] } : { rcode: 3 }));
    trap = await startTrap();
  });
  afterAll(() => Promise.all([dns.close(), trap.close()]));

  const as = (username) => `Proxy-Authorization: ${basic(username, PASSWORD)}\r\n`;
  const creds = (...entries) => entries.map((entry) => ({ password: PASSWORD, ...entry }));

  it('lets a credential reach only its allowedHosts, by name, and never relaxes the proxy for it', async () => {
    const proxy = await proxyWith({
      resolver: dns.address,
      allowedRanges: LOOPBACK,
      credentials: creds({ username: 'shop', allowedHosts: ['api.shop.test', '*.cdn.test'] }, { username: 'open' }),
    });
    const ok = await rawGet(proxy.port, `http://api.shop.test:${upstream.port}/json`, as('shop'));
    expect(ok.status).toBe(200);
    expect((await rawGet(proxy.port, `http://img.cdn.test:${upstream.port}/json`, as('shop'))).status).toBe(200);
    for (const url of [`http://other.test:${trap.port}/`, `http://127.0.0.1:${trap.port}/`]) {
      const refused = await rawGet(proxy.port, url, as('shop'));
      expect(refused.status).toBe(403);
      expect(refused.headers['x-egress-denied']).toBe('not-allowed-host');
      expect(refused.body).toMatch(/is not in allowedHosts/);
    }
    const tunnel = await rawConnect(proxy.port, `other.test:${trap.port}`, as('shop'));
    expect(tunnel.headers['x-egress-denied']).toBe('not-allowed-host');
    // The built-in rules come first, for every credential.
    expect((await rawGet(proxy.port, 'http://169.254.169.254/', as('shop'))).headers['x-egress-denied']).toBe('blocked-address');
    // Another credential is not held to the shop's list.
    expect((await rawGet(proxy.port, `http://other.test:${upstream.port}/json`, as('open'))).status).toBe(200);
    expect(trap.connections).toBe(0);
  });

  it("adds a credential's deniedHosts and deniedRanges to the proxy's", async () => {
    const proxy = await proxyWith({
      resolver: dns.address,
      allowedRanges: LOOPBACK,
      credentials: creds({ username: 'blog', deniedHosts: ['*.admin.test'], deniedRanges: ['127.0.0.2/32'] }, { username: 'open' }),
    });
    expect((await rawGet(proxy.port, `http://x.admin.test:${trap.port}/`, as('blog'))).headers['x-egress-denied']).toBe('denied-host');
    const range = await rawGet(proxy.port, `http://127.0.0.2:${trap.port}/`, as('blog'));
    expect(range.body).toBe('destination 127.0.0.2 is denied by the deniedRanges entry 127.0.0.2/32\n');
    expect((await rawGet(proxy.port, `http://x.admin.test:${upstream.port}/json`, as('open'))).status).toBe(200);
    expect(trap.connections).toBe(0);
  });

  it("in report mode allows what the credential's rules refuse and records the rule, but still enforces the proxy's", async () => {
    const proxy = await proxyWith({
      resolver: dns.address,
      allowedRanges: LOOPBACK,
      credentials: creds({ username: 'trial', allowedHosts: [], mode: 'report' }),
    });
    const res = await rawGet(proxy.port, `http://api.trial.test:${upstream.port}/json?report`, as('trial'));
    expect(res.status).toBe(200);
    const decision = await waitFor(() => proxy.decisions.find((d) => d.target.endsWith('?report')));
    expect(decision).toMatchObject({
      allowed: true,
      reported: true,
      status: 200,
      rule: 'not-allowed-host',
      reason: 'host "api.trial.test" is not in allowedHosts: only the names listed there may be reached',
      username: 'trial',
    });
    const blocked = await rawGet(proxy.port, 'http://169.254.169.254/', as('trial'));
    expect([blocked.status, blocked.headers['x-egress-denied']]).toEqual([403, 'blocked-address']);
    expect(proxy.stats()).toMatchObject({ allowed: 1, reported: 1, denied: 1 });
  });

  it('answers 429 rate-limited past maxRequestsPerMinute, with Retry-After', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK, credentials: creds({ username: 'busy', maxRequestsPerMinute: 2 }) });
    const statuses = [];
    for (let i = 0; i < 2; i += 1) statuses.push((await rawGet(proxy.port, `${upstream.url}/json`, as('busy'))).status);
    expect(statuses).toEqual([200, 200]);
    const limited = await rawGet(proxy.port, `${upstream.url}/json`, as('busy'));
    expect(limited.status).toBe(429);
    expect(limited.headers['x-egress-error']).toBe('rate-limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(29);
    expect(limited.body).toMatch(/for the credential "busy": it may make 2 a minute \(maxRequestsPerMinute\)/);
    const decision = await waitFor(() => proxy.decisions.find((d) => d.rule === 'rate-limited'));
    expect(decision).toMatchObject({ allowed: false, status: 429, username: 'busy' });
  });

  it('answers 429 rate-limited past maxConcurrent, and admits again once one ends; report mode only records it', async () => {
    const proxy = await proxyWith({
      allowedRanges: LOOPBACK,
      credentials: creds({ username: 'one', maxConcurrent: 1 }, { username: 'watched', maxConcurrent: 1, mode: 'report' }),
    });
    const authority = `127.0.0.1:${upstream.port}`;
    const auth = (user) => ({ 'proxy-authorization': basic(user, PASSWORD) });
    const first = await openTunnel(proxy, authority, auth('one'));
    const second = await openTunnel(proxy, authority, auth('one'));
    expect([first.status, second.status, second.headers['x-egress-error']]).toEqual([200, 429, 'rate-limited']);
    second.socket.destroy();
    first.socket.destroy();
    await waitFor(() => proxy.stats().activeTunnels === 0);
    const third = await openTunnel(proxy, authority, auth('one'));
    expect(third.status).toBe(200);
    third.socket.destroy();

    const a = await openTunnel(proxy, authority, auth('watched'));
    const b = await openTunnel(proxy, authority, auth('watched'));
    expect([a.status, b.status]).toEqual([200, 200]);
    a.socket.destroy();
    b.socket.destroy();
    const reported = await waitFor(() => proxy.decisions.find((d) => d.username === 'watched' && d.reported));
    expect(reported).toMatchObject({ allowed: true, rule: 'rate-limited' });
  });

  it('names the field of a bad credential rule', async () => {
    await expect(startEgressProxy({ credentials: [{ username: 'a', password: 'b', mode: 'audit' }] })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
      message: 'The "options.credentials[0].mode" argument must be "enforce" or "report". Received "audit"',
    });
    await expect(
      startEgressProxy({
        credentials: [
          { username: 'a', password: 'b' },
          { username: 'c', password: 'd', allowedHosts: ['10.0.0.1'] },
        ],
      }),
    ).rejects.toMatchObject({ message: expect.stringContaining('"options.credentials[1]" argument is invalid: allowedHosts[0]') });
    await expect(startEgressProxy({ credentials: [{ username: 'a', password: 'b', maxConcurrent: 0 }] })).rejects.toMatchObject({
      name: 'RangeError',
      message: expect.stringContaining('options.credentials[0].maxConcurrent'),
    });
  });
});

describe('metrics', () => {
  it('serves decisions by credential and rule, bytes, durations and open tunnels in the Prometheus text format', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK, metricsListen: '127.0.0.1:0' });
    expect(proxy.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await viaProxy(proxy, `${upstream.url}/json`)).status).toBe(200);
    expect((await rawGet(proxy.port, 'http://169.254.169.254/')).status).toBe(403);
    expect((await rawGet(proxy.port, `${upstream.url}/json`, `Proxy-Authorization: ${basic('intruder', 'x')}\r\n`)).status).toBe(407);
    const tunnel = await openTunnel(proxy, `127.0.0.1:${upstream.port}`);
    await waitFor(() => proxy.decisions.length >= 3);
    const scrape = await fetch(proxy.metricsUrl);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await scrape.text();
    const lines = text.split('\n');
    for (const line of [
      '# TYPE egress_proxy_decisions_total counter',
      `egress_proxy_decisions_total{credential="${USER}",outcome="allowed",rule=""} 1`,
      `egress_proxy_decisions_total{credential="${USER}",outcome="denied",rule="blocked-address"} 1`,
      'egress_proxy_decisions_total{credential="",outcome="auth-failure",rule="proxy-auth"} 1',
      '# TYPE egress_proxy_request_duration_seconds histogram',
      `egress_proxy_request_duration_seconds_count{credential="${USER}",kind="forward"} 2`,
      `egress_proxy_open_connections{credential="${USER}",kind="tunnel"} 1`,
    ]) {
      expect(lines).toContain(line);
    }
    expect(text).toMatch(new RegExp(`egress_proxy_bytes_total\\{credential="${USER}",direction="down"\\} [1-9]\\d*`));
    expect(text).not.toContain('intruder');
    tunnel.socket.destroy();
    expect(await (await fetch(proxy.metricsUrl.replace('/metrics', '/healthz'))).text()).toBe('ok\n');
    expect((await fetch(proxy.metricsUrl.replace('/metrics', '/'))).status).toBe(404);
    // Scripts cannot read them through the proxy.
    const own = await rawGet(proxy.port, proxy.metricsUrl);
    expect([own.status, own.headers['x-egress-denied']]).toEqual([403, 'own-address']);
  });
});

describe('reload()', () => {
  it('puts new credentials and rules in force at once, and keeps open tunnels', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK });
    const tunnel = await openTunnel(proxy, `127.0.0.1:${upstream.port}`);
    expect(tunnel.status).toBe(200);
    proxy.reload({ allowedRanges: LOOPBACK, credentials: [{ username: 'next', password: 'n3w' }] });
    expect((await viaProxy(proxy, `${upstream.url}/json`)).status).toBe(407);
    const next = await viaProxy(proxy, `${upstream.url}/json`, { headers: { 'proxy-authorization': basic('next', 'n3w') } });
    expect(next.status).toBe(200);
    // The tunnel opened before still carries a request.
    tunnel.socket.write('GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const answer = await new Promise((resolve) => {
      let text = '';
      tunnel.socket.on('data', (part) => (text += part)).on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(answer).toContain('"items":[1,2,3]');
  });

  it('refuses bad options with the field named, and keeps those in force', async () => {
    const proxy = await proxyWith({ allowedRanges: LOOPBACK });
    expect(() => proxy.reload({ credentials: [{ username: 'x', password: 'y', mode: 'loud' }] })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('options.credentials[0].mode') }),
    );
    expect(() => proxy.reload({ credentials: CREDENTIALS, listen: '127.0.0.1:1' })).toThrow(
      /options\.listen.*cannot change while the proxy runs/,
    );
    expect(() => proxy.reload(null)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect((await viaProxy(proxy, `${upstream.url}/json`)).status).toBe(200);
  });
});

describe('the command line with --config', () => {
  let dir;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'egress-proxy-config-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name, value) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
    return file;
  };

  it('reads credentials with their rules from the file, serves metrics, and reloads on SIGHUP without dropping a tunnel', async () => {
    const config = write('proxy.json', {
      listen: '127.0.0.1:0',
      allowedRanges: LOOPBACK,
      credentials: [{ username: 'shop', password: 'p1', maxRequestsPerMinute: 100 }],
    });
    const child = run(['--config', config, '--metrics-listen', '127.0.0.1:0']);
    try {
      const port = Number((await waitFor(() => /\(port (\d+)\)/.exec(child.err), 10000))[1]);
      const metricsUrl = (await waitFor(() => /metrics at (\S+)/.exec(child.err)))[1];
      const proxy = { port };
      const as = (user, password) => ({ headers: { 'proxy-authorization': basic(user, password) } });
      expect((await viaProxy(proxy, `${upstream.url}/json`, as('shop', 'p1'))).status).toBe(200);
      const tunnel = await openTunnel(proxy, `127.0.0.1:${upstream.port}`, as('shop', 'p1').headers);
      expect(tunnel.status).toBe(200);

      // A bad file keeps the configuration in force, and says why.
      write('proxy.json', { listen: '127.0.0.1:0', credentials: [{ username: 'shop', password: 'p1', mode: 'audit' }] });
      child.kill('SIGHUP');
      await waitFor(() => child.err.includes('not reloaded'));
      expect(child.err).toContain(`configuration not reloaded, the previous one stays in force: ${config}: "credentials[0].mode" must be`);
      write('proxy.json', '{ "credentials": [');
      child.kill('SIGHUP');
      await waitFor(() => child.err.includes('is not valid JSON'));
      expect((await viaProxy(proxy, `${upstream.url}/json`, as('shop', 'p1'))).status).toBe(200);

      // A good one is in force at once.
      write('proxy.json', {
        listen: '127.0.0.1:0',
        allowedRanges: LOOPBACK,
        credentials: [{ username: 'blog', password: 'p2', deniedRanges: ['127.0.0.0/8'] }],
      });
      child.kill('SIGHUP');
      await waitFor(() => child.err.includes('configuration reloaded'));
      expect((await viaProxy(proxy, `${upstream.url}/json`, as('shop', 'p1'))).status).toBe(407);
      const denied = await viaProxy(proxy, `${upstream.url}/json`, as('blog', 'p2'));
      expect([denied.status, denied.headers['x-egress-denied']]).toEqual([403, 'denied-address']);

      // The tunnel opened under the old configuration still works.
      tunnel.socket.write('GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const answer = await new Promise((resolve) => {
        let text = '';
        tunnel.socket.on('data', (part) => (text += part)).on('close', () => resolve(text));
      });
      expect(answer).toMatch(/^HTTP\/1\.1 200 OK/);

      let metrics = '';
      for (let tries = 0; tries < 50 && !metrics.includes('credential="shop",outcome="allowed",rule=""} 3'); tries += 1) {
        metrics = await (await fetch(metricsUrl)).text();
        await sleep(50);
      }
      // Two forwarded requests and the tunnel, once it closed.
      expect(metrics).toContain('egress_proxy_decisions_total{credential="shop",outcome="allowed",rule=""} 3');
      expect(metrics).toContain('egress_proxy_decisions_total{credential="blog",outcome="denied",rule="denied-address"} 1');
      child.kill('SIGTERM');
      expect(await child.exited).toEqual({ code: 0, signal: null });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses a file it cannot use at start, naming the file and the field, with status 2', async () => {
    const bad = run(['--config', write('bad.json', { credentials: [{ username: 'a', password: 'b', allowedHosts: ['a.*.example'] }] })]);
    expect(await bad.exited).toEqual({ code: 2, signal: null });
    expect(bad.err).toMatch(/bad\.json: "credentials\[0\]" is invalid: allowedHosts\[0\] is not a host name or a "\*\.domain" pattern/);
    const both = run(['--config', write('creds.json', { credentials: CREDENTIALS }), '--credentials-file', write('c', 'a:b\n')]);
    expect(await both.exited).toEqual({ code: 2, signal: null });
    expect(both.err).toMatch(/has credentials and --credentials-file gives them too/);
    const notJson = run(['--config', write('x.json', 'listen: 1')]);
    expect(await notJson.exited).toEqual({ code: 2, signal: null });
    expect(notJson.err).toMatch(/x\.json is not valid JSON/);
  });
});

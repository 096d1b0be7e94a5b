'use strict';

// Proves the test network and servers work, using only Node's own clients,
// so failures elsewhere point at the addon rather than at the harness.
const crypto = require('node:crypto');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const tls = require('node:tls');
const zlib = require('node:zlib');
const { getTls } = require('./support/tls');
const { startUpstream, GZIP_BOMB_INFLATED_BYTES } = require('./support/upstream');
const { startAuthProxy, startDeadPort } = require('./support/proxy');

/** One request with a fresh connection; resolves with the whole body as a Buffer. */
function request(url, { method = 'GET', headers = {}, body, ca, path } = {}) {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      { host: target.hostname, port: target.port, path: path ?? target.pathname + target.search, method, headers, ca, agent: false },
      (res) => {
        const parts = [];
        res.on('data', (part) => parts.push(part));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(parts) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends CONNECT to the proxy; resolves with the proxy's status and the tunnel socket. */
function connectThrough(proxy, target, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port, method: 'CONNECT', path: target, headers, agent: false });
    req.on('connect', (res, socket) => resolve({ status: res.statusCode, headers: res.headers, socket }));
    req.on('error', reject);
    req.end();
  });
}

function basicAuth(username, password) {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

// Linux gives the suites a network namespace; macOS and Windows a sandbox or firewall (below).
const onLinux = process.platform === 'linux';

(onLinux ? describe : describe.skip)('the loopback-only test network', () => {
  it('marks the run as inside the namespace', () => {
    expect(process.env.BACKEND_SCRIPTS_LOOPBACK_ONLY).toBe('1');
  });

  it('has no network interface but loopback', () => {
    expect(Object.keys(os.networkInterfaces())).toEqual(['lo']);
  });

  it('fails at once with ENETUNREACH when connecting to an address off the machine', async () => {
    // Checked again here so this test can never send a packet if the namespace is missing.
    expect(Object.keys(os.networkInterfaces())).toEqual(['lo']);
    const started = Date.now();
    // 192.0.2.1 is reserved for documentation (RFC 5737): it addresses no real host.
    const error = await new Promise((resolve) => {
      const socket = net.connect({ host: '192.0.2.1', port: 80 });
      socket.on('connect', () => resolve(new Error('connected')));
      socket.on('error', resolve);
    });
    expect(error.code).toBe('ENETUNREACH');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

(onLinux ? describe.skip : describe)('the confined test run', () => {
  it('is refused at once when connecting to an address off the machine', async () => {
    expect(process.env.BACKEND_SCRIPTS_LOOPBACK_ONLY).toBe('1');
    const started = Date.now();
    const error = await new Promise((resolve) => {
      const socket = net.connect({ host: '192.0.2.1', port: 80 });
      socket.on('connect', () => resolve(new Error('connected')));
      socket.on('error', resolve);
    });
    expect(['EPERM', 'EACCES']).toContain(error.code);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('the test TLS certificate', () => {
  it('is issued by the test CA for 127.0.0.1, ::1 and localhost', async () => {
    const { caPem, certPem } = await getTls();
    const cert = new crypto.X509Certificate(certPem);
    const ca = new crypto.X509Certificate(caPem);
    expect(ca.ca).toBe(true);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('localhost')).toBe('localhost');
  });
});

describe('the upstream test server over http', () => {
  let upstream;
  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(() => upstream.close());

  it('serves JSON at /json and records the hit', async () => {
    const res = await request(`${upstream.url}/json`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body)).toEqual({ ok: true, items: [1, 2, 3] });
    expect(upstream.hits).toContainEqual(expect.objectContaining({ method: 'GET', url: '/json', body: '' }));
  });

  it('answers HEAD /json with headers and no body', async () => {
    const res = await request(`${upstream.url}/json`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
  });

  it('answers /status/:code with that status', async () => {
    const res = await request(`${upstream.url}/status/418`);
    expect(res.status).toBe(418);
    expect(res.body.toString()).toBe('status 418');
  });

  it('echoes request headers at /headers and repeats set-cookie and x-multi', async () => {
    const res = await request(`${upstream.url}/headers`, { headers: { 'x-probe': 'yes' } });
    expect(JSON.parse(res.body)['x-probe']).toBe('yes');
    expect(res.headers['set-cookie']).toHaveLength(2);
    const multi = res.rawHeaders.filter((_, i) => i % 2 === 0 && res.rawHeaders[i].toLowerCase() === 'x-multi');
    expect(multi).toHaveLength(2);
  });

  it('echoes method, url, headers and body at /echo', async () => {
    const res = await request(`${upstream.url}/echo?x=1`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'héllo' });
    expect(JSON.parse(res.body)).toEqual(
      expect.objectContaining({
        method: 'PUT',
        url: '/echo?x=1',
        body: 'héllo',
        headers: expect.objectContaining({ 'content-type': 'text/plain' }),
      }),
    );
  });

  it('validates only good-token at /auth/validate, as JSON or form', async () => {
    const json = { 'content-type': 'application/json' };
    const good = await request(`${upstream.url}/auth/validate`, { method: 'POST', headers: json, body: '{"token":"good-token"}' });
    expect(good.status).toBe(200);
    expect(JSON.parse(good.body)).toEqual({ valid: true, user: { name: 'Ada', email: 'ada@example.com' } });
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await request(`${upstream.url}/auth/validate`, { method: 'POST', headers: form, body: 'token=good-token' })).status).toBe(200);
    const bad = await request(`${upstream.url}/auth/validate`, { method: 'POST', headers: json, body: '{"token":"nope"}' });
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.body)).toEqual({ valid: false });
  });

  it('waits before answering /slow', async () => {
    const started = Date.now();
    const res = await request(`${upstream.url}/slow?ms=200`);
    expect(res.body.toString()).toBe('slow done');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('sends /trickle one byte at a time after the headers', async () => {
    const started = Date.now();
    const res = await request(`${upstream.url}/trickle?ms=50&chunks=4`);
    expect(res.body.toString()).toBe('xxxx');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('streams exactly the requested number of bytes at /huge', async () => {
    const res = await request(`${upstream.url}/huge?bytes=200000`);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.body.length).toBe(200000);
    expect(res.body.every((byte) => byte === 0x61)).toBe(true);
  });

  it('keeps streaming /endless until the client goes away', async () => {
    const received = await new Promise((resolve, reject) => {
      http
        .get(`${upstream.url}/endless`, { agent: false }, (res) => {
          let bytes = 0;
          res.on('data', (part) => {
            bytes += part.length;
            if (bytes >= 4 * 1024 * 1024) {
              res.destroy();
              resolve(bytes);
            }
          });
        })
        .on('error', reject);
    });
    expect(received).toBeGreaterThanOrEqual(4 * 1024 * 1024);
  });

  it('serves a small gzip body at /gzip-bomb that inflates to 100 MiB', async () => {
    const res = await request(`${upstream.url}/gzip-bomb`);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.body.length).toBeLessThan(200 * 1024);
    expect(zlib.gunzipSync(res.body).length).toBe(GZIP_BOMB_INFLATED_BYTES);
  });

  it('redirects at /redirect and along /redirect-chain/:n', async () => {
    const to = `${upstream.url}/json`;
    const res = await request(`${upstream.url}/redirect?to=${encodeURIComponent(to)}&status=307`);
    expect(res.status).toBe(307);
    expect(res.headers.location).toBe(to);
    const link = await request(`${upstream.url}/redirect-chain/2`);
    expect(link.status).toBe(302);
    expect(link.headers.location).toBe('/redirect-chain/1');
    expect((await request(`${upstream.url}/redirect-chain/0`)).body.toString()).toBe('chain end');
  });

  it('sends invalid UTF-8 bytes at /utf8-invalid', async () => {
    const res = await request(`${upstream.url}/utf8-invalid`);
    expect(res.body).toEqual(Buffer.from([...Buffer.from('ok '), 0xff, 0xfe, ...Buffer.from(' end')]));
  });

  it('closes promptly while a response is still streaming', async () => {
    const other = await startUpstream();
    // The client side is cut by close(); its errors are expected.
    const res = await new Promise((resolve) => http.get(`${other.url}/endless`, { agent: false }, resolve).on('error', () => {}));
    res.on('error', () => {});
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('the upstream test server over https', () => {
  let upstream;
  let caPem;
  beforeAll(async () => {
    upstream = await startUpstream({ tls: true });
    ({ caPem } = await getTls());
  });
  afterAll(() => upstream.close());

  it('serves /json to a client that trusts the test CA', async () => {
    expect(upstream.url).toBe(`https://127.0.0.1:${upstream.port}`);
    const res = await request(`${upstream.url}/json`, { ca: caPem });
    expect(JSON.parse(res.body)).toEqual({ ok: true, items: [1, 2, 3] });
  });

  it('is refused by a client that does not trust the test CA', async () => {
    await expect(request(`${upstream.url}/json`)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });
});

describe('the authenticating egress proxy', () => {
  let proxy;
  let upstream;
  let secureUpstream;
  let auth;
  beforeAll(async () => {
    [proxy, upstream, secureUpstream] = await Promise.all([startAuthProxy(), startUpstream(), startUpstream({ tls: true })]);
    auth = { 'proxy-authorization': basicAuth(proxy.username, proxy.password) };
  });
  afterAll(() => Promise.all([proxy.close(), upstream.close(), secureUpstream.close()]));

  it('has a URL without credentials in it', () => {
    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
    expect(new URL(proxy.url).username).toBe('');
  });

  it('forwards an absolute-form http request given the right credentials', async () => {
    const target = `${upstream.url}/echo?via=proxy`;
    const res = await request(proxy.url, { path: target, headers: auth });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ method: 'GET', url: '/echo?via=proxy' });
    expect(proxy.requests).toContainEqual(expect.objectContaining({ method: 'GET', target }));
  });

  it('tunnels CONNECT to the https upstream given the right credentials', async () => {
    const target = `127.0.0.1:${secureUpstream.port}`;
    const tunnel = await connectThrough(proxy, target, auth);
    expect(tunnel.status).toBe(200);
    const { caPem } = await getTls();
    const res = await new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          path: '/json',
          // Without an agent, Node uses createConnection: the TLS session inside the tunnel.
          createConnection: () => tls.connect({ socket: tunnel.socket, host: '127.0.0.1', ca: caPem }),
        },
        (response) => {
          const parts = [];
          response.on('data', (part) => parts.push(part));
          response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(parts) }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ ok: true, items: [1, 2, 3] });
    expect(proxy.requests).toContainEqual(expect.objectContaining({ method: 'CONNECT', target }));
  });

  it('answers 407 to a request without credentials, and forwards nothing', async () => {
    const target = `${upstream.url}/json?no-credentials`;
    const res = await request(proxy.url, { path: target });
    expect(res.status).toBe(407);
    expect(res.headers['proxy-authenticate']).toMatch(/^Basic /);
    expect(proxy.requests).toContainEqual(expect.objectContaining({ method: 'GET', target }));
    expect(upstream.hits.map((hit) => hit.url)).not.toContain('/json?no-credentials');
  });

  it('answers 407 to a request with the wrong password', async () => {
    const res = await request(proxy.url, {
      path: `${upstream.url}/json`,
      headers: { 'proxy-authorization': basicAuth(proxy.username, 'wrong') },
    });
    expect(res.status).toBe(407);
  });

  it('answers 407 to a CONNECT without credentials, and records it', async () => {
    const target = `127.0.0.1:${secureUpstream.port}`;
    const before = proxy.requests.length;
    const tunnel = await connectThrough(proxy, target);
    tunnel.socket.destroy();
    expect(tunnel.status).toBe(407);
    expect(proxy.requests.slice(before)).toEqual([expect.objectContaining({ method: 'CONNECT', target })]);
  });

  it('leaves a dead port with nothing listening', async () => {
    const port = await startDeadPort();
    const error = await new Promise((resolve) => net.connect({ host: '127.0.0.1', port }).on('error', resolve).on('connect', resolve));
    expect(error.code).toBe('ECONNREFUSED');
  });
});

'use strict';

// Scripts call external APIs with `http.*`, only through the site's authenticated egress proxy,
// within per-execution limits. Every target is a server on 127.0.0.1 started here. The
// proxy is the package's own (startEgressProxy), which checks Basic credentials and enforces the
// policy itself; a third-party one (proxy-chain) shows the seed examples work through it too, and
// lets the tests that need it see the raw request a proxy receives.
const { execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const tls = require('node:tls');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { runBackendScript } = require('..');
const { startUpstream, gzipBombBody } = require('./support/upstream');
const { startPackageProxy, startAuthProxy, startDeadPort } = require('./support/proxy');
const { getTls } = require('./support/tls');
const { startDns } = require('./support/dns');
const { loopbackConfig, evaluate, get, clearRecords, startServersInChild } = require('./support/egress');
const { failureOf, timed } = require('./support/scripts');

const q = JSON.stringify;

let upstream; // plain HTTP
let secure; // HTTPS, certificate from the test CA
let other; // a second plain HTTP origin
let proxy; // the package's egress proxy
let thirdParty; // proxy-chain, which records the raw requests it receives
let caPem;
let config; // the seed examples' proxyConfig
let countedBefore; // proxy.stats().requests when the test began

beforeAll(async () => {
  [upstream, secure, other, proxy, thirdParty, { caPem }] = await Promise.all([
    startUpstream(),
    startUpstream({ tls: true }),
    startUpstream(),
    startPackageProxy(),
    startAuthProxy(),
    getTls(),
  ]);
  config = loopbackConfig(proxy, { ca: caPem, timeoutMs: 1000 });
});

afterAll(() => Promise.all([upstream, secure, other, proxy, thirdParty].map((server) => server.close())));

beforeEach(async () => {
  await clearRecords(upstream, secure, other, proxy, thirdParty);
  countedBefore = proxy.stats().requests;
});

/** Asserts that no request reached the package's proxy since the test began. */
async function expectNothingReachedProxy() {
  await proxy.settled();
  expect(proxy.requests).toEqual([]);
  expect(proxy.stats().requests).toBe(countedBefore);
}

/** What the package's proxy recorded for a request it let through. */
const allowed = (method, target) => ({ method, target, allowed: true, rule: null, username: 'egress' });

function basicAuth(username, password) {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** Runs `calls` (script expressions, each a call) and says what each threw, or `null`. */
async function thrown(calls, proxyConfig = config) {
  const { value } = await evaluate(
    `return [${calls.join(', ')}].map((call) => { try { call(); return null } catch (e) { return { name: e.name, message: e.message } } })`,
    proxyConfig,
  );
  return value;
}

/** An HTTP server that answers every request, whatever its method, with a redirect. */
async function startRedirector(location) {
  const server = http.createServer((req, res) => {
    const status = Number(new URL(req.url, 'http://x').searchParams.get('status'));
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { location });
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** A TCP relay in front of `port` that records when each connection through it opens and closes. */
async function startTap(port) {
  const started = Date.now();
  const events = [];
  const sockets = new Set();
  const server = net.createServer((client) => {
    const target = net.connect(port, '127.0.0.1');
    sockets.add(client).add(target);
    events.push({ event: 'open', ms: Date.now() - started });
    client.pipe(target).pipe(client);
    client.on('close', () => {
      events.push({ event: 'close', ms: Date.now() - started });
      target.destroy();
    });
    target.on('close', () => client.destroy());
    client.on('error', () => {});
    target.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    events,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(resolve);
      }),
  };
}

describe('the http global', () => {
  it('is undefined when no proxyConfig is given', async () => {
    const result = await runBackendScript('setVariable("type", typeof http)', null, null);
    expect(result.variables.type).toBe('undefined');
  });

  it('offers get, post and request, frozen, when a proxyConfig is given', async () => {
    const { value } = await evaluate('return [typeof http.get, typeof http.post, typeof http.request, Object.isFrozen(http)]', config);
    expect(value).toEqual(['function', 'function', 'function', true]);
  });
});

const CREDENTIALS = { 'proxy-authorization': basicAuth('egress', 'secret') };

describe.each([
  ['the package’s egress proxy', () => proxy, allowed],
  // Its records hold the raw request: the credentials the addon sent it.
  [
    'a third-party proxy (proxy-chain)',
    () => thirdParty,
    (method, target) => ({ method, target, headers: expect.objectContaining(CREDENTIALS) }),
  ],
])('the seed examples, end to end through %s', (_name, via, reached) => {
  let viaConfig;
  beforeAll(() => {
    viaConfig = loopbackConfig(via(), { ca: caPem, timeoutMs: 1000 });
  });

  it('GETs JSON from an API', async () => {
    const { value } = await evaluate(
      `const res = http.get(${q(`${upstream.url}/json`)});
       return { status: res.status, type: res.headers['content-type'], data: JSON.parse(res.body), error: res.error }`,
      viaConfig,
    );
    expect(value).toEqual({ status: 200, type: 'application/json', data: { ok: true, items: [1, 2, 3] } });
    await via().settled();
    expect(via().requests).toEqual([reached('GET', `${upstream.url}/json`)]);
    expect(upstream.hits).toHaveLength(1);
    expect(upstream.hits[0].headers).not.toHaveProperty('proxy-authorization');
  });

  it('POSTs a token to a validation service, which answers 200 for a good one and 401 for a bad one', async () => {
    const validate = (token) => `http.post(${q(`${upstream.url}/auth/validate`)}, { token: ${q(token)} })`;
    const { value } = await evaluate(
      `const good = ${validate('good-token')}, bad = ${validate('stolen')};
       return [good.status, JSON.parse(good.body), bad.status, JSON.parse(bad.body)]`,
      viaConfig,
    );
    expect(value).toEqual([200, { valid: true, user: { name: 'Ada', email: 'ada@example.com' } }, 401, { valid: false }]);
    await via().settled();
    expect(via().requests).toEqual([reached('POST', `${upstream.url}/auth/validate`), reached('POST', `${upstream.url}/auth/validate`)]);
    expect(upstream.hits.map((hit) => hit.body)).toEqual(['{"token":"good-token"}', '{"token":"stolen"}']);
    for (const hit of upstream.hits) expect(hit.headers).not.toHaveProperty('proxy-authorization');
  });

  it('reaches an https API through a CONNECT tunnel, trusting the CA given as `ca`', async () => {
    // A configuration of its own, so that no tunnel kept alive by another test is reused.
    const res = await get(`${secure.url}/json`, { ...viaConfig, timeoutMs: 999 });
    expect(res).toMatchObject({ status: 200, body: '{"ok":true,"items":[1,2,3]}' });
    // The package's proxy reports a tunnel when it closes: here, when it finds it idle.
    await via().settled();
    expect(via().requests).toEqual([reached('CONNECT', `127.0.0.1:${secure.port}`)]);
    expect(secure.hits).toHaveLength(1);
    expect(secure.hits[0].headers).not.toHaveProperty('proxy-authorization');
  });
});

describe('proxyConfig', () => {
  it('is refused for an https API whose certificate is not trusted, with status 0', async () => {
    const res = await get(`${secure.url}/json`, { ...config, ca: undefined });
    expect(res).toEqual({ status: 0, headers: {}, body: '', error: expect.stringMatching(/^TLS failed: .*UnknownIssuer/) });
    expect(secure.hits).toEqual([]);
  });

  it('takes the credentials from userinfo in the proxy URL, percent-decoded, a "+" staying a "+"', async () => {
    const picky = await startPackageProxy({ username: 'egress', password: 'p+ss@w:rd/1' });
    try {
      const url = `http://egress:${encodeURIComponent('p+ss@w:rd/1').replace('%2B', '+')}@127.0.0.1:${picky.port}`;
      const res = await get(`${upstream.url}/json`, { url, allowedRanges: ['127.0.0.0/8'] });
      // The proxy compares the password exactly: a 200 is the proof it was decoded right.
      expect(res.status).toBe(200);
      await picky.settled();
      expect(picky.requests).toEqual([allowed('GET', `${upstream.url}/json`)]);
    } finally {
      await picky.close();
    }
  });

  it('marks its headers hop-by-hop, so the package proxy drops them from plain-HTTP requests', async () => {
    const res = await get(`${upstream.url}/echo`, { ...config, headers: { 'x-egress-tenant': 'acme' } });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).headers).not.toHaveProperty('x-egress-tenant');
  });

  it('sends its headers in the CONNECT request, not through the tunnel to the upstream, through a third-party proxy', async () => {
    const res = await get(`${secure.url}/echo`, { ...loopbackConfig(thirdParty, { ca: caPem }), headers: { 'x-egress-tenant': 'acme' } });
    expect(res.status).toBe(200);
    expect(thirdParty.requests).toEqual([
      {
        method: 'CONNECT',
        target: `127.0.0.1:${secure.port}`,
        headers: expect.objectContaining({ 'x-egress-tenant': 'acme', ...CREDENTIALS }),
      },
    ]);
    expect(JSON.parse(res.body).headers).not.toHaveProperty('x-egress-tenant');
  });

  it('refuses headers that would replace the credentials or the framing', async () => {
    for (const name of ['Proxy-Authorization', 'host', 'connection', 'content-length']) {
      await expect(runBackendScript('1', null, { ...config, headers: { [name]: 'x' } })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARG_VALUE',
      });
    }
  });
});

describe('the result of a call', () => {
  it('has lower-case header names, and repeated headers joined with ", "', async () => {
    const res = await get(`${upstream.url}/headers`, config);
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toBe('session=abc123; Path=/; HttpOnly, theme=dark; Path=/');
    expect(res.headers['x-multi']).toBe('one, two');
    for (const name of Object.keys(res.headers)) expect(name).toBe(name.toLowerCase());
  });

  it('has the body decoded as UTF-8, invalid bytes replaced', async () => {
    const res = await get(`${upstream.url}/utf8-invalid`, config);
    expect(res.body).toBe('ok \uFFFD\uFFFD end');
  });

  it('is a response, not a failure, for an error status', async () => {
    const res = await get(`${upstream.url}/status/503`, config);
    expect(res).toEqual({ status: 503, headers: expect.any(Object), body: 'status 503' });
  });
});

describe('bodies and methods', () => {
  /** What /echo saw of one request. */
  async function echoed(call) {
    const { value } = await evaluate(`const res = ${call}; return res.status === 200 ? JSON.parse(res.body) : res`, config);
    return value;
  }

  const echo = () => q(`${upstream.url}/echo`);

  it('sends a post body that is not a string as JSON, with content-type application/json', async () => {
    const seen = await echoed(`http.post(${echo()}, { a: [1, 'two'], b: null })`);
    expect(seen).toMatchObject({ method: 'POST', body: '{"a":[1,"two"],"b":null}', headers: { 'content-type': 'application/json' } });
    expect(await echoed(`http.post(${echo()}, 42)`)).toMatchObject({ body: '42', headers: { 'content-type': 'application/json' } });
  });

  it('keeps a content-type the script set, whatever its case', async () => {
    const seen = await echoed(`http.post(${echo()}, { a: 1 }, { 'Content-Type': 'application/vnd.api+json' })`);
    expect(seen).toMatchObject({ body: '{"a":1}', headers: { 'content-type': 'application/vnd.api+json' } });
  });

  it('sends a string body as it is, labelled by the script', async () => {
    const { value } = await evaluate(
      `return http.post(${q(`${upstream.url}/auth/validate`)}, 'token=good-token', { 'content-type': 'application/x-www-form-urlencoded' }).status`,
      config,
    );
    expect(value).toBe(200);
    expect(upstream.hits[0]).toMatchObject({ body: 'token=good-token', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  });

  it('sends the script’s own headers', async () => {
    const seen = await echoed(`http.get(${echo()}, { 'X-Api-Key': 'k-123', Authorization: 'Bearer t' })`);
    expect(seen.headers).toMatchObject({ 'x-api-key': 'k-123', authorization: 'Bearer t' });
  });

  it.each(['PUT', 'PATCH', 'DELETE'])('makes %s requests with http.request, with a body', async (method) => {
    const seen = await echoed(`http.request(${q(method.toLowerCase())}, ${echo()}, { n: 1 })`);
    expect(seen).toMatchObject({ method, body: '{"n":1}', headers: { 'content-type': 'application/json' } });
  });

  it('makes HEAD requests with http.request, which have no body', async () => {
    const { value } = await evaluate(`return http.request('HEAD', ${q(`${upstream.url}/json`)})`, config);
    expect(value).toMatchObject({ status: 200, headers: { 'content-type': 'application/json' }, body: '' });
    expect(upstream.hits.map((hit) => hit.method)).toEqual(['HEAD']);
  });
});

describe('misuse throws an error the script can catch', () => {
  const url = () => q(`${upstream.url}/echo`);

  it('for arguments of the wrong type', async () => {
    const errors = await thrown([
      '() => http.get(42)',
      '() => http.get()',
      '() => http.request()',
      `() => http.get(${url()}, 'x-a: 1')`,
      `() => http.get(${url()}, ['x-a'])`,
      `() => http.get(${url()}, { 'x-a': { nested: true } })`,
      `() => http.post(${url()}, () => 1)`,
      `() => http.post(${url()}, 10n)`,
      `() => http.request(1, ${url()})`,
      `() => http.request('TRACE', ${url()})`,
      `() => http.request('CONNECT', ${url()})`,
    ]);
    for (const error of errors) expect(error).toEqual({ name: 'TypeError', message: expect.stringMatching(/^http\.(get|post|request): /) });
    expect(errors[0].message).toBe('http.get: the URL must be a string, not number');
    expect(errors[1].message).toBe('http.get: the URL must be a string, not undefined');
    expect(errors[2].message).toBe('http.request: the method must be a string, not undefined');
    await expectNothingReachedProxy();
  });

  it('for a body on GET or HEAD', async () => {
    const errors = await thrown([`() => http.request('GET', ${url()}, 'body')`, `() => http.request('HEAD', ${url()}, { a: 1 })`]);
    expect(errors).toEqual([
      { name: 'TypeError', message: 'http.get: a GET request cannot have a body' },
      { name: 'TypeError', message: 'http.head: a HEAD request cannot have a body' },
    ]);
    await expectNothingReachedProxy();
  });

  it('and misuse counts for no request', async () => {
    const { result } = await evaluate(`try { http.get(1) } catch {} try { http.post(${url()}, Symbol()) } catch {}`, config);
    expect(result.stats.httpRequests).toBe(0);
  });
});

describe('header smuggling', () => {
  const url = () => q(`${upstream.url}/echo`);

  it.each([
    ['CR LF', 'v\\r\\nHost: evil.example'],
    ['a bare LF', 'v\\nx-injected: 1'],
    ['a bare CR', 'v\\rx'],
    ['NUL', 'v\\u0000'],
    ['another control character', 'v\\u0001'],
  ])('is refused with a TypeError for %s in a value', async (_what, value) => {
    const [error] = await thrown([`() => http.get(${url()}, { 'x-a': '${value}' })`]);
    expect(error).toEqual({ name: 'TypeError', message: expect.stringContaining('the value of x-a holds a control character') });
    await expectNothingReachedProxy();
  });

  it.each([101, 40000])('refuses %d headers at once, in time linear in their number', async (count) => {
    const headers = `Object.fromEntries(Array.from({ length: ${count} }, (_, i) => ['x-h' + i, 'v']))`;
    const [error] = await thrown([`() => http.get(${url()}, ${headers})`]);
    expect(error).toEqual({ name: 'TypeError', message: `http.get: at most 100 headers may be sent. Received ${count}` });
    await expectNothingReachedProxy();
  });

  const forbidden = [
    'Host',
    'connection',
    'Content-Length',
    'transfer-encoding',
    'TE',
    'upgrade',
    'keep-alive',
    'trailer',
    'expect',
    'forwarded',
    'X-Forwarded-For',
    'x-forwarded-host',
    'x-forwarded-proto',
    'Proxy-Authorization',
    'proxy-connection',
    'proxy-anything',
  ];

  it.each(forbidden)('is refused with a TypeError for the %s header', async (name) => {
    const [error] = await thrown([`() => http.post(${url()}, 'x', { ${q(name)}: '1' })`]);
    expect(error).toEqual({ name: 'TypeError', message: `http.post: the ${name.toLowerCase()} header cannot be set by scripts` });
    await expectNothingReachedProxy();
  });

  it('is refused with a TypeError for a malformed header name', async () => {
    const errors = await thrown([
      `() => http.get(${url()}, { 'x a': '1' })`,
      `() => http.get(${url()}, { 'x:a': '1' })`,
      `() => http.get(${url()}, { '': '1' })`,
    ]);
    for (const error of errors)
      expect(error).toEqual({ name: 'TypeError', message: expect.stringContaining('is not a valid header name') });
  });

  it('leaves the proxy’s credentials out of reach: the upstream never sees proxy-authorization', async () => {
    const res = await get(`${upstream.url}/echo`, config);
    expect(JSON.parse(res.body).headers).not.toHaveProperty('proxy-authorization');
  });
});

describe('maxRequests', () => {
  it('allows five requests, then throws "HTTP request limit reached: 5 per script execution"', async () => {
    const { value, result } = await evaluate(
      `const out = [];
       for (let i = 0; i < 6; i++) {
         try { out.push(http.get(${q(`${upstream.url}/json`)}).status) } catch (e) { out.push(e.name + ': ' + e.message) }
       }
       return out`,
      config,
    );
    expect(value).toEqual([200, 200, 200, 200, 200, 'Error: HTTP request limit reached: 5 per script execution']);
    expect(result.stats.httpRequests).toBe(5);
    expect(upstream.hits).toHaveLength(5);
  });

  it('fails the execution when the limit error is not caught', async () => {
    const error = await failureOf(runBackendScript(`for (let i = 0; i < 6; i++) http.get(${q(`${upstream.url}/json`)})`, null, config));
    expect(error).toMatchObject({
      code: 'ERR_SCRIPT_EXCEPTION',
      message: expect.stringContaining('HTTP request limit reached: 5 per script execution'),
    });
  });

  it('counts every redirect hop', async () => {
    const { value, result } = await evaluate(
      `const first = http.get(${q(`${upstream.url}/redirect-chain/3`)});
       const fifth = http.get(${q(`${upstream.url}/json`)});
       let sixth; try { http.get(${q(`${upstream.url}/json`)}) } catch (e) { sixth = e.message }
       return [first.body, fifth.status, sixth]`,
      config,
    );
    expect(value).toEqual(['chain end', 200, 'HTTP request limit reached: 5 per script execution']);
    expect(result.stats.httpRequests).toBe(5);
  });

  it('counts refused requests too', async () => {
    const { value, result } = await evaluate(
      `const out = [];
       for (let i = 0; i < 6; i++) {
         try { out.push(http.get('http://10.0.0.1/').status) } catch (e) { out.push(e.message) }
       }
       return out`,
      config,
    );
    expect(value).toEqual([0, 0, 0, 0, 0, 'HTTP request limit reached: 5 per script execution']);
    expect(result.stats.httpRequests).toBe(5);
    await expectNothingReachedProxy();
  });

  it('ends a redirect chain that uses up the limit with status 0, and says so', async () => {
    const { value, result } = await evaluate(`return http.get(${q(`${upstream.url}/redirect-chain/5`)})`, { ...config, maxRequests: 3 });
    expect(value).toEqual({ status: 0, headers: {}, body: '', error: 'HTTP request limit reached: 3 per script execution' });
    expect(result.stats.httpRequests).toBe(3);
    expect(upstream.hits).toHaveLength(3);
  });

  it('is configurable', async () => {
    const { value } = await evaluate(
      `http.get(${q(`${upstream.url}/json`)}); try { http.get(${q(`${upstream.url}/json`)}) } catch (e) { return e.message }`,
      { ...config, maxRequests: 1 },
    );
    expect(value).toBe('HTTP request limit reached: 1 per script execution');
  });
});

describe('result.stats.httpRequests', () => {
  it('is 0 for a script that makes no request, and counts each request and hop otherwise', async () => {
    const none = await evaluate('return 1', config);
    expect(none.result.stats.httpRequests).toBe(0);
    const some = await evaluate(`http.get(${q(`${upstream.url}/redirect-chain/2`)}); http.get(${q(`${secure.url}/json`)})`, config);
    expect(some.result.stats.httpRequests).toBe(4);
  });
});

describe('timeoutMs', () => {
  it('cuts off a server that is slow to answer', async () => {
    const { value, ms } = await timed(get(`${upstream.url}/slow?ms=5000`, { ...config, timeoutMs: 300 }));
    expect(value).toEqual({ status: 0, headers: {}, body: '', error: 'the request timed out after 300 ms' });
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(1500);
  });

  it('cuts off a server that trickles its body, at the deadline for the request as a whole', async () => {
    // The headers come at once, then one byte every 50 ms for 10 s.
    const { value, ms } = await timed(get(`${upstream.url}/trickle?ms=50&chunks=200`, { ...config, timeoutMs: 400 }));
    expect(value).toEqual({ status: 0, headers: {}, body: '', error: 'the request timed out after 400 ms' });
    expect(ms).toBeLessThan(1500);
  });

  it('lets a trickle that ends in time through', async () => {
    const res = await get(`${upstream.url}/trickle?ms=20&chunks=5`, { ...config, timeoutMs: 1000 });
    expect(res).toMatchObject({ status: 200, body: 'xxxxx' });
  });

  it('applies to https requests too', async () => {
    const res = await get(`${secure.url}/slow?ms=5000`, { ...config, timeoutMs: 300 });
    expect(res.error).toBe('the request timed out after 300 ms');
  });
});

describe('maxResponseBytes', () => {
  // Compressing 100 MiB takes seconds: done before the clock of any request starts.
  beforeAll(() => gzipBombBody(), 30000);

  it('lets a body of exactly the limit through and fails one byte more with status 0', async () => {
    const small = { ...config, maxResponseBytes: 1000 };
    const at = await get(`${upstream.url}/huge?bytes=1000`, small);
    expect(at.status).toBe(200);
    expect(at.body).toHaveLength(1000);
    const over = await get(`${upstream.url}/huge?bytes=1001`, small);
    expect(over).toEqual({ status: 0, headers: {}, body: '', error: 'the response body exceeded the limit of 1000 bytes' });
  });

  it.each([
    ['a 200 MB body', '/huge?bytes=200000000'],
    ['an endless body', '/endless'],
    ['a gzip bomb (100 KB inflating to 100 MB)', '/gzip-bomb'],
    ['an endless deflate stream of empty blocks (bytes that decode to nothing)', '/empty-deflate'],
  ])('fails %s at the default limit of 1 MiB, quickly', async (_what, route) => {
    const { value, ms } = await timed(get(`${upstream.url}${route}`, config));
    expect(value).toEqual({ status: 0, headers: {}, body: '', error: 'the response body exceeded the limit of 1048576 bytes' });
    expect(ms).toBeLessThan(3000);
  });

  it.each([
    ['plain http', () => upstream],
    ['https, inside the tunnel', () => secure],
  ])('cuts off interim responses without end at the bytes the limit allows (%s)', async (_what, server) => {
    const before = proxy.stats().bytesDown;
    const { value, ms } = await timed(get(`${server().url}/interim-flood`, { ...config, maxResponseBytes: 1000, timeoutMs: 20000 }));
    expect(value.status).toBe(0);
    expect(ms).toBeLessThan(5000);
    await proxy.settled();
    // 8 bytes of wire per byte of body and 1 MiB of room for heads and TLS, and the proxy's last
    // read may pass that by one buffer; without the cut, hundreds of MB would come in before the
    // timeout.
    expect(proxy.stats().bytesDown - before).toBeLessThan(8 * 1000 + (1 << 20) + (1 << 20));
  });

  it.each(['/gzip-text', '/deflate-text', '/raw-deflate-text'])('asks for gzip and deflate, and decodes %s', async (route) => {
    const value = await get(`${upstream.url}${route}`, config);
    expect([value.status, value.body, value.headers['x-accept-encoding']]).toEqual([200, `hello ${route.slice(1)} é`, 'gzip, deflate']);
    expect(value.headers).not.toHaveProperty('content-encoding');
  });

  it('does so without the memory those bodies would take', async () => {
    const source = ['/huge?bytes=200000000', '/endless', '/gzip-bomb'].map((route) => `http.get(${q(`${upstream.url}${route}`)}).error`);
    const script = `return [${source.join(', ')}]`;
    await evaluate(script, config); // warm-up: threads, pools and allocator arenas
    const before = process.memoryUsage().rss;
    for (let round = 0; round < 3; round++) {
      const { value } = await evaluate(script, config);
      expect(value).toEqual(Array(3).fill('the response body exceeded the limit of 1048576 bytes'));
    }
    // 1.8 GB was offered; reading any one body whole would take 100-200 MB.
    expect(process.memoryUsage().rss - before).toBeLessThan(80 * 1024 * 1024);
  });
});

describe('maxRedirects', () => {
  const many = { maxRequests: 20 };

  it('follows up to maxRedirects redirects and fails the next one with status 0', async () => {
    const two = { ...config, ...many, maxRedirects: 2 };
    expect(await get(`${upstream.url}/redirect-chain/2`, two)).toMatchObject({ status: 200, body: 'chain end' });
    expect(await get(`${upstream.url}/redirect-chain/3`, two)).toEqual({
      status: 0,
      headers: {},
      body: '',
      error: 'too many redirects (more than 2)',
    });
  });

  it('is 5 by default', async () => {
    expect(await get(`${upstream.url}/redirect-chain/5`, { ...config, ...many })).toMatchObject({ status: 200 });
    expect((await get(`${upstream.url}/redirect-chain/6`, { ...config, ...many })).error).toBe('too many redirects (more than 5)');
  });

  it('with 0, follows none', async () => {
    expect((await get(`${upstream.url}/redirect?to=/json`, { ...config, maxRedirects: 0 })).error).toBe('too many redirects (more than 0)');
  });

  it('follows relative locations, and absolute ones to another origin and scheme', async () => {
    expect(await get(`${upstream.url}/redirect?to=/json&status=301`, config)).toMatchObject({
      status: 200,
      body: '{"ok":true,"items":[1,2,3]}',
    });
    expect(await get(`${upstream.url}/redirect?to=${encodeURIComponent(`${secure.url}/json`)}&status=308`, config)).toMatchObject({
      status: 200,
    });
    expect(upstream.hits.map((hit) => hit.url)).toEqual([
      '/redirect?to=/json&status=301',
      '/json',
      expect.stringMatching(/^\/redirect\?to=https/),
    ]);
    expect(secure.hits.map((hit) => hit.url)).toEqual(['/json']);
  });
});

describe('redirects', () => {
  let redirector;
  beforeAll(async () => {
    redirector = await startRedirector(`${upstream.url}/echo`);
  });
  afterAll(() => redirector.close());

  async function afterRedirect(status, method = 'post') {
    const { value } = await evaluate(
      `const res = http.request(${q(method)}, ${q(`${redirector.url}/?status=${status}`)}, { form: 1 }); return JSON.parse(res.body)`,
      config,
    );
    return value;
  }

  it('continue a POST as a body-less GET after 303', async () => {
    const seen = await afterRedirect(303);
    expect(seen).toMatchObject({ method: 'GET', body: '' });
    expect(seen.headers).not.toHaveProperty('content-type');
  });

  it('turn a PUT into a GET after 303 too', async () => {
    expect(await afterRedirect(303, 'put')).toMatchObject({ method: 'GET', body: '' });
  });

  it('continue a POST as a GET after 301 and 302, as browsers do', async () => {
    expect(await afterRedirect(301)).toMatchObject({ method: 'GET', body: '' });
    expect(await afterRedirect(302)).toMatchObject({ method: 'GET', body: '' });
  });

  it('keep the method and body after 307 and 308', async () => {
    expect(await afterRedirect(307)).toMatchObject({ method: 'POST', body: '{"form":1}', headers: { 'content-type': 'application/json' } });
    expect(await afterRedirect(308, 'patch')).toMatchObject({ method: 'PATCH', body: '{"form":1}' });
  });

  const credentials = { authorization: 'Bearer t0k3n', cookie: 'sid=s3cr3t', 'x-trace': 'abc' };

  it('drop authorization and cookie on a redirect to another origin', async () => {
    const to = encodeURIComponent(`${other.url}/echo`);
    const { value } = await evaluate(
      `return JSON.parse(http.get(${q(`${upstream.url}/redirect?to=${to}`)}, ${q(credentials)}).body).headers`,
      config,
    );
    expect(value['x-trace']).toBe('abc');
    expect(value).not.toHaveProperty('authorization');
    expect(value).not.toHaveProperty('cookie');
    expect(other.hits).toHaveLength(1);
  });

  it('keep them on a redirect within the same origin', async () => {
    const { value } = await evaluate(
      `return JSON.parse(http.get(${q(`${upstream.url}/redirect?to=/echo`)}, ${q(credentials)}).body).headers`,
      config,
    );
    expect(value).toMatchObject(credentials);
  });
});

describe('the execution’s wall-clock budget', () => {
  it('is a deadline no request outlives: the connection is given up when the budget ends', async () => {
    const tap = await startTap(proxy.port);
    try {
      const tapped = { ...config, url: `http://127.0.0.1:${tap.port}`, timeoutMs: 10000 };
      const source = `const out = [];
        for (let i = 0; i < 3; i++) out.push(http.get(${q(`${upstream.url}/slow?ms=5000`)}).error);
        setVariable('errors', out)`;
      const { error, ms } = await timed(runBackendScript(source, null, tapped, { wallTimeMs: 400 }));
      // The request is cut off when the budget ends, and the script ends there with a timeout:
      // within the budget and its grace, not after 5 s, and no later request is started.
      expect(ms).toBeLessThan(1000);
      expect(error).toMatchObject({ code: 'ERR_SCRIPT_TIMEOUT', message: 'script exceeded its wall-clock time limit of 400 ms' });
      // The proxy saw one request, and the client leave before the upstream answered.
      await proxy.settled();
      expect(proxy.requests).toEqual([
        { method: 'GET', target: `${upstream.url}/slow?ms=5000`, allowed: false, rule: 'client-closed', username: 'egress' },
      ]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(tap.events.map((e) => e.event)).toEqual(['open', 'close']);
      expect(tap.events[1].ms).toBeLessThan(1000);
    } finally {
      await tap.close();
    }
  });
});

describe('an https:// proxy URL', () => {
  // The package's proxy speaks plain HTTP; a TLS relay in front of it stands for a proxy reached
  // over TLS, verified with `ca` like any upstream.
  async function startTlsRelay() {
    const { keyPem, certPem } = await getTls();
    const relay = tls.createServer({ key: keyPem, cert: certPem }, (socket) => {
      const inner = net.connect(proxy.port, '127.0.0.1');
      socket.pipe(inner).pipe(socket);
      inner.on('error', () => socket.destroy());
      socket.on('error', () => inner.destroy());
    });
    await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
    return { url: `https://127.0.0.1:${relay.address().port}`, close: () => new Promise((resolve) => relay.close(resolve)) };
  }

  it('reaches the proxy over TLS, for http and https destinations', async () => {
    const relay = await startTlsRelay();
    try {
      for (const target of [upstream, secure]) {
        const res = await get(`${target.url}/json`, { ...config, url: relay.url });
        expect(res).toMatchObject({ status: 200, body: '{"ok":true,"items":[1,2,3]}' });
      }
      await proxy.settled();
      expect(proxy.requests.map((r) => r.method)).toEqual(expect.arrayContaining(['GET', 'CONNECT']));
    } finally {
      await relay.close();
    }
  });

  it('refuses a proxy whose certificate it cannot verify, with status 0', async () => {
    const relay = await startTlsRelay();
    try {
      const res = await get(`${upstream.url}/json`, { ...config, url: relay.url, ca: undefined });
      expect(res.status).toBe(0);
      expect(res.error).toMatch(/^TLS failed: .*invalid peer certificate: UnknownIssuer/);
    } finally {
      await relay.close();
    }
  });
});

describe('when the proxy cannot resolve the destination', () => {
  it('reports the DNS failure as status 0 naming the host', async () => {
    const { startEgressProxy } = require('..');
    const names = await startDns(() => ({ rcode: 3 }));
    const own = await startEgressProxy({ credentials: [{ username: 'egress', password: 'secret' }], resolver: names.address });
    try {
      const res = await get('http://no-such-host.example/json', { url: own.url, username: 'egress', password: 'secret' });
      expect(res).toEqual({ status: 0, headers: {}, body: '', error: 'DNS lookup failed for no-such-host.example' });
      expect(names.queries.map((q) => q.name)).toContain('no-such-host.example');
    } finally {
      await own.close();
      await names.close();
    }
  });
});

describe('when the proxy cannot be used', () => {
  const refusedCredentials = 'the egress proxy refused the credentials (407 Proxy Authentication Required)';

  it.each([
    ['http', () => upstream],
    ['https', () => secure],
  ])('wrong proxy credentials give status 0 and a clear error, for an %s target', async (_scheme, target) => {
    const res = await get(`${target().url}/json`, { ...config, password: 'wrong-password' });
    expect(res).toEqual({ status: 0, headers: {}, body: '', error: refusedCredentials });
    await proxy.settled();
    expect(proxy.requests).toEqual([expect.objectContaining({ allowed: false, rule: 'proxy-auth', username: 'egress' })]);
    expect(target().hits).toEqual([]);
  });

  it.each([
    ['http', () => upstream],
    ['https', () => secure],
  ])('a proxy that is down gives status 0 and a clear error, for an %s target', async (_scheme, target) => {
    const dead = await startDeadPort();
    const res = await get(`${target().url}/json`, { ...config, url: `http://127.0.0.1:${dead}` });
    expect(res).toEqual({
      status: 0,
      headers: {},
      body: '',
      error: `the egress proxy at http://127.0.0.1:${dead} is unreachable: connection refused`,
    });
    expect(target().hits).toEqual([]);
  });

  it('a proxy that will not open a tunnel to the destination gives status 0 and says so', async () => {
    const dead = await startDeadPort();
    const res = await get(`https://127.0.0.1:${dead}/json`, config);
    expect(res.status).toBe(0);
    expect(res.error).toBe(
      `the egress proxy refused the request to 127.0.0.1:${dead}: the proxy would not open a tunnel (the destination is blocked or unreachable from the proxy)`,
    );
    await proxy.settled();
    expect(proxy.requests).toEqual([
      expect.objectContaining({ method: 'CONNECT', target: `127.0.0.1:${dead}`, allowed: false, rule: 'connect-failed' }),
    ]);
  });

  it('never puts the credentials in a message, a log or an error', async () => {
    const password = 'Sup3r-S3cret-Pa55';
    const dead = await startDeadPort();
    const configs = [
      { ...config, password },
      { ...config, username: 'egress', password: undefined, url: `http://egress:${password}@127.0.0.1:${proxy.port}` },
      { ...config, username: 'egress', password: undefined, url: `http://egress:${password}@127.0.0.1:${dead}` },
      { ...config, password, url: `http://127.0.0.1:${dead}` },
    ];
    const texts = [];
    for (const proxyConfig of configs) {
      const source = `const errors = [${q(`${upstream.url}/json`)}, ${q(`${secure.url}/json`)}].map((u) => http.get(u).error);
        console.log(JSON.stringify(errors));
        throw new Error(errors.join(' | '))`;
      const error = await failureOf(runBackendScript(source, null, proxyConfig));
      texts.push(error.message, JSON.stringify(error.logs));
      expect(error.message).toMatch(/the egress proxy (refused the credentials|at http:\/\/127\.0\.0\.1:\d+ is unreachable)/);
    }
    for (const text of texts) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(Buffer.from(`egress:${password}`).toString('base64'));
    }
  });
});

describe('environment proxy variables', () => {
  it('are ignored: requests still go through the configured proxy', async () => {
    const dead = await startDeadPort();
    const elsewhere = `http://127.0.0.1:${dead}`;
    const child = `
      const { runBackendScript } = require(${q(path.join(__dirname, '..'))});
      const config = JSON.parse(process.env.TEST_PROXY_CONFIG);
      const urls = JSON.parse(process.env.TEST_URLS);
      runBackendScript("setVariable('res', " + JSON.stringify(urls) + ".map((u) => { const r = http.get(u); return [r.status, r.error] }))", null, config)
        .then((result) => console.log(JSON.stringify(result.variables.res)), (error) => { console.error(error); process.exit(1) });`;
    const env = {
      ...process.env,
      HTTP_PROXY: elsewhere,
      HTTPS_PROXY: elsewhere,
      ALL_PROXY: elsewhere,
      http_proxy: elsewhere,
      https_proxy: elsewhere,
      all_proxy: elsewhere,
      NO_PROXY: '*',
      no_proxy: '*',
      TEST_PROXY_CONFIG: q(config),
      TEST_URLS: q([`${upstream.url}/json`, `${secure.url}/json`]),
    };
    const stdout = await new Promise((resolve, reject) => {
      execFile(process.execPath, ['-e', child], { env, timeout: 10000 }, (error, out) => (error ? reject(error) : resolve(out)));
    });
    expect(JSON.parse(stdout)).toEqual([
      [200, null],
      [200, null],
    ]);
    await proxy.settled();
    expect(proxy.requests.map((r) => r.method)).toEqual(['GET', 'CONNECT']);
  });
});

describe('an invalid proxyConfig', () => {
  const password = 'Sup3r-S3cret-Pa55';
  const base = () => ({ url: proxy.url, username: 'egress', password });

  it.each([
    ['a URL that does not parse', { url: 'not a url' }, 'ERR_INVALID_ARG_VALUE', /proxyConfig\.url/],
    ['a URL with credentials that does not parse', { url: `http://egress:${password}@[::1` }, 'ERR_INVALID_ARG_VALUE', /proxyConfig\.url/],
    ['a proxy URL that is not http(s)', { url: 'socks5://127.0.0.1:1080' }, 'ERR_INVALID_ARG_VALUE', /proxyConfig\.url/],
    ['no URL', { url: undefined }, 'ERR_INVALID_ARG_VALUE', /missing field `url`/],
    [
      'a bad CIDR in allowedRanges',
      { allowedRanges: ['127.0.0.0/8', '10.0.0.0/33'] },
      'ERR_INVALID_ARG_VALUE',
      /allowedRanges\[1\] is not a CIDR range/,
    ],
    ['a loose spelling in deniedRanges', { deniedRanges: ['127.1'] }, 'ERR_INVALID_ARG_VALUE', /deniedRanges\[0\]/],
    ['a range with host bits set', { allowedRanges: ['10.0.0.1/8'] }, 'ERR_INVALID_ARG_VALUE', /did you mean "10\.0\.0\.0\/8"/],
    ['a bad deniedHosts pattern', { deniedHosts: ['a.*.example'] }, 'ERR_INVALID_ARG_VALUE', /deniedHosts\[0\]/],
    ['an unknown field', { proxyUrl: 'http://x' }, 'ERR_INVALID_ARG_VALUE', /unknown property "proxyUrl"/],
    ['a negative limit', { maxRequests: -1 }, 'ERR_INVALID_ARG_VALUE', /"proxyConfig\.maxRequests" argument must be an integer/],
    ['a zero timeout', { timeoutMs: 0 }, 'ERR_INVALID_ARG_VALUE', /proxyConfig\.timeoutMs/],
    ['a fractional limit', { maxRedirects: 1.5 }, 'ERR_INVALID_ARG_VALUE', /proxyConfig\.maxRedirects/],
    ['a negative body limit', { maxResponseBytes: -5 }, 'ERR_INVALID_ARG_VALUE', /proxyConfig\.maxResponseBytes/],
    ['a ca that is not PEM', { ca: 'not pem' }, 'ERR_INVALID_ARG_VALUE', /proxyConfig\.ca/],
    ['a proxy header that is not a string', { headers: { 'x-a': 1 } }, 'ERR_INVALID_ARG_VALUE', /proxyConfig\.headers\.x-a/],
    ['a limit of the wrong type', { maxRequests: '5' }, 'ERR_INVALID_ARG_TYPE', /proxyConfig\.maxRequests/],
    ['ranges that are not a list', { allowedRanges: '127.0.0.0/8' }, 'ERR_INVALID_ARG_TYPE', /proxyConfig\.allowedRanges/],
    ['a password that is not a string', { password: 1234 }, 'ERR_INVALID_ARG_TYPE', /proxyConfig\.password/],
  ])('is rejected for %s', async (_what, fields, code, message) => {
    const error = await failureOf(runBackendScript('', null, { ...base(), ...fields }));
    expect(error).toMatchObject({ code, message: expect.stringMatching(message) });
    expect(error.message).not.toContain(password);
  });

  it.each([
    ['a string', 'http://127.0.0.1:3128'],
    ['an array', [{ url: 'http://127.0.0.1:3128' }]],
    ['a number', 3128],
  ])('is rejected with ERR_INVALID_ARG_TYPE when it is %s', async (_what, value) => {
    const error = await failureOf(runBackendScript('', null, value));
    expect(error).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('proxyConfig') });
  });
});

describe('waiting on the network', () => {
  // The servers run in a process of their own, so that this event loop only serves the addon.
  let servers;
  beforeAll(async () => {
    servers = await startServersInChild();
  });
  afterAll(() => servers.close());

  it('holds no CPU and no event loop: 200 executions waiting 500 ms each finish together', async () => {
    const crowd = loopbackConfig(servers.proxy, { timeoutMs: 5000 });
    const source = `setVariable('status', http.get(${q(`${servers.upstream}/slow?ms=500`)}).status)`;
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = Date.now();
    const batch = Promise.all(Array.from({ length: 200 }, () => runBackendScript(source, null, crowd)));
    // libuv's pool is free for the rest of Node meanwhile.
    const poolStarted = Date.now();
    await new Promise((resolve, reject) => crypto.pbkdf2('pw', 'salt', 1000, 32, 'sha256', (e) => (e ? reject(e) : resolve())));
    await fs.promises.stat(__filename);
    const poolMs = Date.now() - poolStarted;
    const results = await batch;
    const elapsed = Date.now() - started;
    delay.disable();

    expect(results.map((r) => r.variables.status)).toEqual(Array(200).fill(200));
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(elapsed).toBeLessThan(2000);
    expect(poolMs).toBeLessThan(250);
    expect(delay.max / 1e6).toBeLessThan(100);
    expect(await servers.counts()).toEqual({ hits: 200, requests: 200 });
  });
});

describe('the proxy speaks for itself, and only the proxy does', () => {
  it('takes a destination answering with the proxy marker headers, through the package proxy, for its own answer', async () => {
    for (const status of [403, 502]) {
      const res = await get(`${upstream.url}/impersonate?status=${status}`, config);
      expect(res).toMatchObject({ status, body: 'the egress proxy refused this (not really)\n' });
      expect(res.error).toBeUndefined();
      expect(res.headers).not.toHaveProperty('x-egress-denied');
      expect(res.headers).not.toHaveProperty('x-egress-error');
    }
  });

  it('never reads proxy markers, or a proxy challenge, in a response that came through a tunnel', async () => {
    // proxy-chain relays the destination's headers as they are; inside a tunnel they are the
    // destination's to send, end to end.
    const throughThirdParty = loopbackConfig(thirdParty, { ca: caPem, timeoutMs: 1000 });
    for (const proxyConfig of [config, throughThirdParty]) {
      for (const status of [403, 407, 502]) {
        const res = await get(`${secure.url}/impersonate?status=${status}`, proxyConfig);
        expect(res.status).toBe(status);
        expect(res.error).toBeUndefined();
        expect(res.headers).toMatchObject({ 'x-egress-denied': 'blocked-address', 'x-egress-error': 'resolve-failed' });
      }
    }
  });

  it("reports the proxy's 431 to a 20 KB URL or header as the proxy's failure with its rule, counted and decided", async () => {
    const url = `${upstream.url}/json?${'q'.repeat(20 * 1024)}`;
    const res = await get(url, config);
    expect(res).toEqual({
      status: 0,
      headers: {},
      body: '',
      error: `the egress proxy could not complete the request to 127.0.0.1:${upstream.port} (header-too-large): the request line and headers are larger than the egress proxy reads: at most 16384 bytes (maxHeaderBytes)`,
    });
    const { value } = await evaluate(`return http.get(${q(`${upstream.url}/json`)}, { 'x-big': 'b'.repeat(20 * 1024) })`, config);
    expect(value.error).toMatch(/\(header-too-large\)/);
    await proxy.settled();
    expect(proxy.requests.map((r) => [r.method, r.allowed, r.rule])).toEqual([
      ['GET', false, 'header-too-large'],
      ['GET', false, 'header-too-large'],
    ]);
    expect(proxy.stats().requests).toBe(countedBefore + 2);
    expect(upstream.hits).toEqual([]);
  });
});

describe("a credential's rate limit", () => {
  it('fails the call past maxRequestsPerMinute with status 0 and the rule', async () => {
    const limited = await startPackageProxy({ username: 'limited', credential: { maxRequestsPerMinute: 1 } });
    try {
      const { value } = await evaluate(`return [1, 2].map(() => http.get(${q(`${upstream.url}/json`)}))`, loopbackConfig(limited));
      expect(value[0].status).toBe(200);
      expect(value[1]).toMatchObject({
        status: 0,
        error: expect.stringMatching(/\(rate-limited\): too many requests .*"limited".*maxRequestsPerMinute/),
      });
    } finally {
      await limited.close();
    }
  });
});

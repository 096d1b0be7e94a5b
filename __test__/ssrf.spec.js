'use strict';

// The egress policy holds against SSRF: every attempt at the host's own network is
// refused with status 0 and an error naming the rule, before anything is sent: nothing reaches the
// proxy (the package's own, which would apply the policy again), nothing reaches the upstream. The
// only real target is the upstream on 127.0.0.1, which each loopback spelling below aims at (by
// its port), so a spelling that slipped through would show up in its hits; everything else is
// refused before a packet leaves, inside a network namespace that has nothing but loopback anyway.
const { execFile, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startUpstream } = require('./support/upstream');
const { startPackageProxy } = require('./support/proxy');
const { loopbackConfig, evaluate, get, clearRecords } = require('./support/egress');

const q = JSON.stringify;

let upstream;
let proxy;
let strict; // the built-in policy alone: no allowedRanges
let port;

beforeAll(async () => {
  [upstream, proxy] = await Promise.all([startUpstream(), startPackageProxy()]);
  strict = { url: proxy.url, username: proxy.username, password: proxy.password };
  port = upstream.port;
});

afterAll(() => Promise.all([upstream.close(), proxy.close()]));

beforeEach(() => clearRecords(upstream, proxy));

/** Asserts that nothing reached the proxy since it counted `countedBefore` requests. */
async function expectNothingReachedProxy(countedBefore) {
  await proxy.settled();
  expect(proxy.requests).toEqual([]);
  expect(proxy.stats().requests).toBe(countedBefore);
}

/** Asserts that `http.get(url)` was refused with `error` and that nothing was sent anywhere. */
async function expectRefused(url, error, proxyConfig = strict) {
  const countedBefore = proxy.stats().requests;
  const res = await get(url, proxyConfig);
  expect(res).toEqual({ status: 0, headers: {}, body: '', error: expect.any(String) });
  expect(res.error).toEqual(typeof error === 'string' ? expect.stringContaining(error) : expect.stringMatching(error));
  await expectNothingReachedProxy(countedBefore);
  expect(upstream.hits).toEqual([]);
  return res.error;
}

const LOOPBACK_V4 = '(blocked-address): destination 127.0.0.1 is blocked: loopback address (127.0.0.0/8)';
const MAPPED = 'is blocked: IPv4-mapped IPv6 address (::ffff:0.0.0.0/96)';
const LOCALHOST = 'is blocked: localhost names refer to this machine';

describe('without allowedRanges, loopback is refused in every spelling', () => {
  it.each([
    ['127.0.0.1', LOOPBACK_V4],
    ['127.1', LOOPBACK_V4],
    ['127.0.1', LOOPBACK_V4],
    ['2130706433', LOOPBACK_V4],
    ['0x7f000001', LOOPBACK_V4],
    ['0177.0.0.1', LOOPBACK_V4],
    ['017700000001', LOOPBACK_V4],
    ['0x7f.1', LOOPBACK_V4],
    ['127.0.0.1.', LOOPBACK_V4],
    ['%31%32%37.0.0.1', LOOPBACK_V4],
    ['１２７.０.０.１', LOOPBACK_V4],
    ['127。0。0。1', LOOPBACK_V4],
    ['127.255.255.254', 'destination 127.255.255.254 is blocked: loopback address'],
    ['[::1]', '(blocked-address): destination ::1 is blocked: loopback address (::1/128)'],
    ['[0:0:0:0:0:0:0:1]', 'destination ::1 is blocked: loopback address'],
    ['[::ffff:127.0.0.1]', `destination ::ffff:127.0.0.1 ${MAPPED}`],
    ['[0:0:0:0:0:ffff:7f00:1]', `destination ::ffff:127.0.0.1 ${MAPPED}`],
    ['[::127.0.0.1]', 'destination ::7f00:1 is blocked: deprecated IPv4-compatible IPv6 address'],
    ['localhost', `(blocked-host): host "localhost" ${LOCALHOST}`],
    ['localhost.', `host "localhost." ${LOCALHOST}`],
    ['LOCALHOST', `host "localhost" ${LOCALHOST}`],
    ['LocalHost.', `host "localhost." ${LOCALHOST}`],
    ['ｌｏｃａｌｈｏｓｔ', `host "localhost" ${LOCALHOST}`],
    ['foo.localhost', `host "foo.localhost" ${LOCALHOST}`],
  ])('http://%s', async (host, error) => {
    const message = await expectRefused(`http://${host}:${port}/json`, error);
    expect(message).toMatch(/^blocked by the egress policy \(blocked-(address|host)\): /);
  });
});

describe('the rest of the host’s network is refused', () => {
  const address = (ip, range) => `(blocked-address): destination ${ip} is blocked: ${range}`;
  const host = (name, rule) => `(blocked-host): host "${name}" is blocked: ${rule}`;

  it.each([
    // the private ranges, at both edges
    ['http://10.0.0.1/', address('10.0.0.1', 'private-use address (10.0.0.0/8)')],
    ['http://10.255.255.255:8080/', address('10.255.255.255', 'private-use address (10.0.0.0/8)')],
    ['http://172.16.0.1/', address('172.16.0.1', 'private-use address (172.16.0.0/12)')],
    ['http://172.31.255.255/', address('172.31.255.255', 'private-use address (172.16.0.0/12)')],
    ['https://192.168.0.1/', address('192.168.0.1', 'private-use address (192.168.0.0/16)')],
    ['http://192.168.255.255/', address('192.168.255.255', 'private-use address (192.168.0.0/16)')],
    ['http://012.0.0.1/', address('10.0.0.1', 'private-use address')],
    ['http://0xc0a80001/', address('192.168.0.1', 'private-use address')],
    // cloud metadata, in its spellings
    [
      'http://169.254.169.254/latest/meta-data/',
      address('169.254.169.254', 'link-local address (169.254.0.0/16), which includes cloud metadata endpoints'),
    ],
    ['http://0xa9fea9fe/', address('169.254.169.254', 'link-local address')],
    ['http://2852039166/', address('169.254.169.254', 'link-local address')],
    ['http://0251.0376.0251.0376/', address('169.254.169.254', 'link-local address')],
    ['http://169.254.43518/', address('169.254.169.254', 'link-local address')],
    ['http://[::ffff:169.254.169.254]/', address('::ffff:169.254.169.254', 'IPv4-mapped IPv6 address (::ffff:0.0.0.0/96)')],
    ['http://[::ffff:a9fe:a9fe]/', address('::ffff:169.254.169.254', 'IPv4-mapped IPv6 address (::ffff:0.0.0.0/96)')],
    ['http://[fd00:ec2::254]/', address('fd00:ec2::254', 'unique local address (fc00::/7)')],
    ['http://metadata.google.internal/computeMetadata/v1/', host('metadata.google.internal', 'names under .internal are internal')],
    ['http://METADATA.GOOGLE.INTERNAL./', host('metadata.google.internal.', 'names under .internal are internal')],
    // the other special-purpose ranges
    ['http://100.64.0.1/', address('100.64.0.1', 'carrier-grade NAT shared address (100.64.0.0/10)')],
    ['http://100.127.255.255/', address('100.127.255.255', 'carrier-grade NAT')],
    ['http://0.0.0.0/', address('0.0.0.0', '"this host" address (0.0.0.0/32)')],
    ['http://0/', address('0.0.0.0', '"this host" address')],
    ['http://0.1.2.3/', address('0.1.2.3', '"this network" address (0.0.0.0/8)')],
    ['http://224.0.0.1/', address('224.0.0.1', 'multicast address (224.0.0.0/4)')],
    ['http://239.255.255.250/', address('239.255.255.250', 'multicast address')],
    ['http://255.255.255.255/', address('255.255.255.255', 'limited broadcast address')],
    ['http://240.0.0.1/', address('240.0.0.1', 'reserved address (240.0.0.0/4)')],
    ['http://192.0.2.1/', address('192.0.2.1', 'documentation address (TEST-NET-1)')],
    ['http://198.51.100.7/', address('198.51.100.7', 'documentation address (TEST-NET-2)')],
    ['http://203.0.113.9/', address('203.0.113.9', 'documentation address (TEST-NET-3)')],
    ['http://198.18.0.1/', address('198.18.0.1', 'benchmarking address (198.18.0.0/15)')],
    ['http://192.0.0.1/', address('192.0.0.1', 'IPv4 service continuity')],
    ['http://[::]/', address('::', 'unspecified address')],
    ['http://[fc00::1]/', address('fc00::1', 'unique local address (fc00::/7)')],
    ['http://[fe80::1]/', address('fe80::1', 'link-local address (fe80::/10)')],
    ['http://[fec0::1]/', address('fec0::1', 'deprecated site-local address')],
    ['http://[ff02::1]/', address('ff02::1', 'multicast address (ff00::/8)')],
    ['http://[64:ff9b::7f00:1]/', address('64:ff9b::7f00:1', 'NAT64 IPv4/IPv6 translation address (64:ff9b::/96)')],
    ['http://[64:ff9b:1::a00:1]/', address('64:ff9b:1::a00:1', 'local-use IPv4/IPv6 translation address')],
    ['http://[2002:7f00:1::]/', address('2002:7f00:1::', '6to4 address (2002::/16)')],
    ['http://[2001::1]/', address('2001::1', 'Teredo tunnel address (2001::/32)')],
    ['http://[2001:db8::1]/', address('2001:db8::1', 'documentation address')],
    ['http://[100::1]/', address('100::1', 'discard-only address')],
    // host names that are never public
    ['http://intranet/', host('intranet', 'names without a dot are resolved through local search domains')],
    ['http://intranet./', host('intranet.', 'names without a dot')],
    ['http://printer.local/', host('printer.local', 'names under .local are multicast DNS names')],
    ['http://nas.home.arpa/', host('nas.home.arpa', 'names under .home.arpa are home network names')],
    ['http://db.localdomain/', host('db.localdomain', 'names under .localdomain')],
    ['http://vault.corp/', host('vault.corp', 'names under .corp are private-use names')],
  ])('%s', async (url, error) => {
    await expectRefused(url, `blocked by the egress policy ${error}`);
  });
});

describe('URLs that are not plain http(s) are refused as invalid', () => {
  const scheme = (name) => `invalid URL: scheme "${name}:" is not allowed: only http: and https: URLs can be requested`;

  it.each([
    ['file:///etc/passwd', scheme('file')],
    ['FILE:///etc/passwd', scheme('file')],
    ['ftp://127.0.0.1:PORT/', scheme('ftp')],
    ['gopher://127.0.0.1:PORT/_GET%20/json', scheme('gopher')],
    ['data:text/plain,hello', scheme('data')],
    ['javascript:alert(1)', scheme('javascript')],
    ['ws://127.0.0.1:PORT/', scheme('ws')],
    ['dict://127.0.0.1:PORT/', scheme('dict')],
    ['/json', 'invalid URL: not a valid URL'],
    ['http://', 'invalid URL: not a valid URL'],
    ['http://[::1/', 'invalid URL: not a valid URL'],
    ['http://256.0.0.1/', 'invalid URL: not a valid URL'],
  ])('%s', async (url, error) => {
    await expectRefused(url.replace('PORT', port), error, loopbackConfig(proxy));
  });

  it.each([
    'http://alice:s3cret@127.0.0.1:PORT/json',
    'http://alice@127.0.0.1:PORT/json',
    'http://:s3cret@127.0.0.1:PORT/json',
    'http://@127.0.0.1:PORT/json',
    'http://127.0.0.1:PORT@127.0.0.1:PORT/json',
    'http:\\\\alice:s3cret@127.0.0.1:PORT/json',
  ])('with userinfo, even where the address is allowed: %s', async (url) => {
    const error = await expectRefused(
      url.replaceAll('PORT', port),
      'invalid URL: URLs with a user name or password (user:pass@host) are not allowed: send credentials in a header instead',
      loopbackConfig(proxy),
    );
    expect(error).not.toMatch(/alice|s3cret/);
  });
});

describe('a redirect from an allowed upstream to an internal address', () => {
  // Only the upstream's own address is allowed, so every other address here is internal.
  const onlyUpstream = () => loopbackConfig(proxy, { allowedRanges: ['127.0.0.1/32'] });

  it.each([
    ['http://169.254.169.254/latest/meta-data/', '(blocked-address): destination 169.254.169.254 is blocked: link-local address'],
    ['http://metadata.google.internal/', '(blocked-host): host "metadata.google.internal" is blocked'],
    ['http://10.0.0.1/', '(blocked-address): destination 10.0.0.1 is blocked: private-use address'],
    ['http://127.0.0.2:PORT/json', '(blocked-address): destination 127.0.0.2 is blocked: loopback address'],
    ['http://[::1]:PORT/json', '(blocked-address): destination ::1 is blocked: loopback address'],
    ['http://[::ffff:127.0.0.1]:PORT/json', `(blocked-address): destination ::ffff:127.0.0.1 ${MAPPED}`],
    ['http://localhost:PORT/json', `(blocked-host): host "localhost" ${LOCALHOST}`],
    ['//localhost:PORT/json', `(blocked-host): host "localhost" ${LOCALHOST}`],
    ['http://0x7f000002:PORT/json', '(blocked-address): destination 127.0.0.2 is blocked: loopback address'],
  ])('is refused at the hop: %s', async (location, error) => {
    for (const status of [301, 302, 303, 307, 308]) {
      await clearRecords(upstream, proxy);
      const to = encodeURIComponent(location.replace('PORT', port));
      const res = await get(`${upstream.url}/redirect?status=${status}&to=${to}`, onlyUpstream());
      expect(res).toEqual({ status: 0, headers: {}, body: '', error: expect.stringContaining(`blocked by the egress policy ${error}`) });
      // The first request went through the proxy to the upstream; the hop went nowhere.
      await proxy.settled();
      expect(proxy.requests).toEqual([
        { method: 'GET', target: `${upstream.url}/redirect?status=${status}&to=${to}`, allowed: true, rule: null, username: 'egress' },
      ]);
      expect(upstream.hits).toHaveLength(1);
    }
  });

  it.each([
    ['file:///etc/passwd', 'invalid URL: scheme "file:" is not allowed'],
    ['gopher://127.0.0.1:PORT/_x', 'invalid URL: scheme "gopher:" is not allowed'],
    ['http://user:pass@127.0.0.1:PORT/json', 'invalid URL: URLs with a user name or password (user:pass@host) are not allowed'],
  ])('is refused at the hop when it leads to %s', async (location, error) => {
    const to = encodeURIComponent(location.replace('PORT', port));
    const res = await get(`${upstream.url}/redirect?to=${to}`, onlyUpstream());
    expect(res.status).toBe(0);
    expect(res.error).toContain(error);
    await proxy.settled();
    expect(proxy.requests).toHaveLength(1);
    expect(upstream.hits).toHaveLength(1);
  });

  it('counts the refused hop as a request', async () => {
    const to = encodeURIComponent('http://169.254.169.254/');
    const { result } = await evaluate(`return http.get(${q(`${upstream.url}/redirect?to=${to}`)})`, onlyUpstream());
    expect(result.stats.httpRequests).toBe(2);
  });
});

describe('allowedRanges', () => {
  const allowing = (...ranges) => loopbackConfig(proxy, { allowedRanges: ranges });

  it('lets a request to an address it names through', async () => {
    const res = await get(`http://127.0.0.1:${port}/json`, allowing('127.0.0.1/32'));
    expect(res.status).toBe(200);
    await proxy.settled();
    expect(proxy.requests).toEqual([expect.objectContaining({ target: `http://127.0.0.1:${port}/json`, allowed: true })]);
  });

  it('accepts a bare address as that address alone', async () => {
    expect((await get(`http://127.0.0.1:${port}/json`, allowing('127.0.0.1'))).status).toBe(200);
    await clearRecords(upstream, proxy);
    await expectRefused(`http://127.0.0.2:${port}/json`, 'destination 127.0.0.2 is blocked: loopback address', allowing('127.0.0.1'));
  });

  it.each([
    ['http://127.0.0.2:PORT/json', 'destination 127.0.0.2 is blocked: loopback address'],
    ['http://[::1]:PORT/json', 'destination ::1 is blocked: loopback address'],
    ['http://[::ffff:127.0.0.1]:PORT/json', `destination ::ffff:127.0.0.1 ${MAPPED}`],
    ['http://localhost:PORT/json', `host "localhost" ${LOCALHOST}`],
    ['http://10.0.0.1/', 'destination 10.0.0.1 is blocked: private-use address'],
    ['http://169.254.169.254/', 'destination 169.254.169.254 is blocked: link-local address'],
    ['http://metadata.google.internal/', 'host "metadata.google.internal" is blocked'],
  ])('lifts only what it names: %s stays refused', async (url, error) => {
    await expectRefused(url.replace('PORT', port), error, allowing('127.0.0.1/32'));
  });

  it('for another range does not reach loopback', async () => {
    await expectRefused(`http://127.0.0.1:${port}/json`, LOOPBACK_V4, allowing('10.0.0.0/8', '::1/128'));
  });
});

describe('deniedRanges and deniedHosts', () => {
  it('deniedRanges wins over allowedRanges', async () => {
    const config = loopbackConfig(proxy, { allowedRanges: ['127.0.0.0/8'], deniedRanges: ['127.0.0.1/32'] });
    await expectRefused(
      `http://127.0.0.1:${port}/json`,
      'blocked by the egress policy (denied-address): destination 127.0.0.1 is denied by the deniedRanges entry 127.0.0.1/32',
      config,
    );
    await expectRefused(`http://2130706433:${port}/json`, '(denied-address): destination 127.0.0.1 is denied', config);
    await expectRefused(`http://[::ffff:127.0.0.1]:${port}/json`, '(denied-address): destination ::ffff:127.0.0.1 is denied', config);
  });

  it('deniedRanges leaves the rest of allowedRanges allowed', async () => {
    const res = await get(`http://127.0.0.1:${port}/json`, loopbackConfig(proxy, { deniedRanges: ['127.0.0.2/32', '203.0.114.0/24'] }));
    expect(res.status).toBe(200);
  });

  it('deniedRanges refuses a redirect hop into the range', async () => {
    const config = loopbackConfig(proxy, { deniedRanges: ['127.0.0.2/31'] });
    const to = encodeURIComponent(`http://127.0.0.3:${port}/json`);
    const res = await get(`${upstream.url}/redirect?to=${to}`, config);
    expect(res.error).toBe(
      'blocked by the egress policy (denied-address): destination 127.0.0.3 is denied by the deniedRanges entry 127.0.0.2/31',
    );
    await proxy.settled();
    expect(proxy.requests).toHaveLength(1);
  });

  it.each([
    ['http://api.partner.example/v1', 'host "api.partner.example" is denied by the deniedHosts entry "api.partner.example"'],
    ['https://API.Partner.Example./v1', 'host "api.partner.example." is denied by the deniedHosts entry "api.partner.example"'],
    ['http://corp.example/', 'host "corp.example" is denied by the deniedHosts entry "*.corp.example"'],
    ['http://git.corp.example/', 'host "git.corp.example" is denied by the deniedHosts entry "*.corp.example"'],
    ['http://a.b.corp.example:8080/', 'host "a.b.corp.example" is denied by the deniedHosts entry "*.corp.example"'],
  ])('deniedHosts refuses %s before any lookup', async (url, error) => {
    const config = loopbackConfig(proxy, { deniedHosts: ['api.partner.example', '*.corp.example'] });
    await expectRefused(url, `blocked by the egress policy (denied-host): ${error}`, config);
  });

  it('deniedHosts refuses a redirect hop to a denied name', async () => {
    const config = loopbackConfig(proxy, { deniedHosts: ['*.corp.example'] });
    const res = await get(`${upstream.url}/redirect?to=${encodeURIComponent('http://git.corp.example/')}`, config);
    expect(res.error).toBe(
      'blocked by the egress policy (denied-host): host "git.corp.example" is denied by the deniedHosts entry "*.corp.example"',
    );
    await proxy.settled();
    expect(proxy.requests).toHaveLength(1);
  });
});

// A name the local resolver maps to an internal address. /etc/hosts is shared with the rest of the
// machine, so it is not edited: the script runs in a child process with a mount namespace of its
// own, where a private hosts file is bind-mounted over /etc/hosts.
const HOSTS = [
  '127.0.0.1 loopback-alias.example',
  '::1 loopback6-alias.example',
  '10.1.2.3 private-alias.example',
  '169.254.169.254 metadata-alias.example',
];

function canBindHosts() {
  const probe = spawnSync('unshare', ['--mount', '--', 'sh', '-c', 'mount --bind /etc/hosts /etc/hosts'], { encoding: 'utf8' });
  return probe.status === 0;
}

const itWithHosts = canBindHosts() ? it : it.skip;

describe('a host name that the local resolver maps to an internal address', () => {
  itWithHosts('is refused before it is sent, naming the address it resolves to', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssrf-hosts-'));
    const hostsFile = path.join(dir, 'hosts');
    fs.writeFileSync(hostsFile, `${HOSTS.join('\n')}\n`);
    const urls = [
      `http://loopback-alias.example:${port}/json`,
      `http://LOOPBACK-ALIAS.example.:${port}/json`,
      `http://loopback6-alias.example:${port}/json`,
      'http://private-alias.example/',
      'http://metadata-alias.example/latest/meta-data/',
    ];
    const countedBefore = proxy.stats().requests;
    const child = `
      const { runBackendScript } = require(${q(path.join(__dirname, '..'))});
      const urls = ${q(urls)};
      runBackendScript('setVariable("errors", ' + JSON.stringify(urls) + '.map((u) => http.get(u).error))', null, ${q({ ...strict, maxRequests: 10 })})
        .then((result) => console.log(JSON.stringify(result.variables.errors)), (error) => { console.error(error); process.exit(1) });`;
    try {
      const stdout = await new Promise((resolve, reject) => {
        execFile(
          'unshare',
          ['--mount', '--', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile, process.execPath, '-e', child],
          { timeout: 10000 },
          (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
        );
      });
      expect(JSON.parse(stdout)).toEqual([
        `blocked by the egress policy (blocked-address): loopback-alias.example resolves to 127.0.0.1; destination 127.0.0.1 is blocked: loopback address (127.0.0.0/8), which is this machine`,
        expect.stringMatching(/^blocked by the egress policy \(blocked-address\): loopback-alias\.example\.? resolves to 127\.0\.0\.1;/),
        expect.stringMatching(
          /^blocked by the egress policy \(blocked-address\): loopback6-alias\.example resolves to ::1; destination ::1 is blocked: loopback address/,
        ),
        `blocked by the egress policy (blocked-address): private-alias.example resolves to 10.1.2.3; destination 10.1.2.3 is blocked: private-use address (10.0.0.0/8), used for internal networks`,
        expect.stringMatching(
          /^blocked by the egress policy \(blocked-address\): metadata-alias\.example resolves to 169\.254\.169\.254; destination 169\.254\.169\.254 is blocked: link-local address/,
        ),
      ]);
      await expectNothingReachedProxy(countedBefore);
      expect(upstream.hits).toEqual([]);
      // The machine's own /etc/hosts is untouched.
      expect(fs.readFileSync('/etc/hosts', 'utf8')).not.toContain('alias.example');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

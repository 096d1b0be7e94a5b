'use strict';

// The record of every execution (`stats` on results and on errors): how it ended, what it cost,
// how long it waited, and every HTTP request it made, through a real egress proxy to a real
// upstream on loopback.
const { configure, renderPage, runBackendScript } = require('..');
const { startRecordedEgress } = require('./support/egress');

const TOKEN = 'tok-do-not-log';

let egress;
let upstream;
let proxyConfig;

beforeAll(async () => {
  egress = await startRecordedEgress({ username: 'site', password: 'records-secret' });
  ({ upstream, proxyConfig } = egress);
});

afterAll(() => egress?.close());

const record = (fields) => ({
  outcome: 'ok',
  durationMs: expect.any(Number),
  cpuMs: expect.any(Number),
  peakMemoryBytes: expect.any(Number),
  queueMs: expect.any(Number),
  httpWaitMs: expect.any(Number),
  httpRequests: 0,
  requests: [],
  hostWaitMs: 0,
  hostCalls: [],
  ...fields,
});

describe('the record of an execution', () => {
  it('carries the outcome, the times, the peak memory and every request, with its host only', async () => {
    const other = `http://127.0.0.2:${upstream.port}`;
    const result = await runBackendScript(
      `const slow = http.get('${upstream.url}/slow?ms=80&token=${TOKEN}');
       const denied = http.get('${other}/json?token=${TOKEN}');
       const blocked = http.post('http://169.254.169.254/latest/meta-data?token=${TOKEN}', 'x');
       response.json([slow.status, denied.status, blocked.status])`,
      {},
      proxyConfig,
    );
    expect(JSON.parse(result.body)).toEqual([200, 0, 0]);
    const { stats } = result;
    expect(stats).toEqual(
      record({
        httpRequests: 3,
        requests: [
          {
            method: 'GET',
            host: '127.0.0.1',
            status: 200,
            bytes: 'slow done'.length,
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
          {
            method: 'POST',
            host: '169.254.169.254',
            status: 0,
            bytes: 0,
            durationMs: expect.any(Number),
            error: 'blocked',
            rule: 'blocked-address',
          },
        ],
      }),
    );
    expect(stats.requests[0].durationMs).toBeGreaterThanOrEqual(75);
    expect(stats.httpWaitMs).toBeGreaterThanOrEqual(stats.requests[0].durationMs);
    expect(stats.durationMs).toBeGreaterThanOrEqual(stats.httpWaitMs);
    expect(stats.cpuMs).toBeLessThan(stats.durationMs);
    expect(stats.peakMemoryBytes).toBeGreaterThan(64 * 1024);
    // No path and no query string: records go to logs and metrics, and URLs can hold secrets.
    expect(JSON.stringify(stats)).not.toMatch(/tok-do-not-log|slow|meta-data|json/);
  });

  it('has one request per redirect hop, each with its own status', async () => {
    const result = await runBackendScript(`http.get('${upstream.url}/redirect-chain/2')`, {}, proxyConfig);
    expect(result.stats.requests.map((r) => [r.host, r.status, r.bytes])).toEqual([
      ['127.0.0.1', 302, 0],
      ['127.0.0.1', 302, 0],
      ['127.0.0.1', 200, 'chain end'.length],
    ]);
    expect(result.stats.httpRequests).toBe(3);
  });

  it('is on the error of a failed execution too, with its code as the outcome', async () => {
    const error = await runBackendScript(`http.get('${upstream.url}/json'); throw new Error('after the call')`, {}, proxyConfig).catch(
      (e) => e,
    );
    expect(error.code).toBe('ERR_SCRIPT_EXCEPTION');
    expect(error.stats).toEqual(
      record({
        outcome: 'ERR_SCRIPT_EXCEPTION',
        httpRequests: 1,
        requests: [expect.objectContaining({ method: 'GET', host: '127.0.0.1', status: 200 })],
      }),
    );
    expect(error.stats.durationMs).toBeGreaterThan(0);
  });

  it('counts the CPU of a script stopped for its CPU time', async () => {
    const error = await runBackendScript('while (true) {}', {}, null, { cpuTimeMs: 60 }).catch((e) => e);
    expect(error.code).toBe('ERR_SCRIPT_TIMEOUT');
    expect(error.stats.outcome).toBe('ERR_SCRIPT_TIMEOUT');
    expect(error.stats.cpuMs).toBeGreaterThanOrEqual(55);
  });

  it("reports the sandbox's memory high-water mark, which the memory limit bounds", async () => {
    const small = await runBackendScript('1 + 1');
    // About 8 MB held at once, then dropped: the peak remembers it.
    const large = await runBackendScript('let a = new Array(500000).fill(1.5); a = null');
    expect(large.stats.peakMemoryBytes).toBeGreaterThan(small.stats.peakMemoryBytes + 4e6);
    const limit = 4 * 1024 * 1024;
    const error = await runBackendScript('const keep = []; for (;;) keep.push("x".repeat(1000) + keep.length)', {}, null, {
      memoryLimitBytes: limit,
    }).catch((e) => e);
    expect(error.code).toBe('ERR_SCRIPT_MEMORY');
    // QuickJS checks the size an allocation asks for against the limit and counts the size the
    // allocator gave, a few bytes more: the peak may pass the limit by that rounding.
    expect(error.stats.peakMemoryBytes).toBeLessThanOrEqual(limit + 1024);
    expect(error.stats.peakMemoryBytes).toBeGreaterThan(limit / 2);
  });

  it('counts the rendering of a page, and keeps the record of a page whose template fails', async () => {
    const page = await renderPage('<script scope="backend">setVariable("n", 3)</script>{% for i in range(var.n) %}{{ i }}{% endfor %}');
    expect(page.body).toBe('012');
    expect(page.stats).toEqual(record({}));
    const error = await renderPage(
      `<script scope="backend">http.get('${upstream.url}/json'); setVariable('x', 1)</script>{{ var.x // 0 }}`,
      {},
      proxyConfig,
    ).catch((e) => e);
    expect(error.code).toBe('ERR_PAGE_TEMPLATE');
    expect(error.stats).toEqual(
      record({ outcome: 'ERR_PAGE_TEMPLATE', httpRequests: 1, requests: [expect.objectContaining({ status: 200 })] }),
    );
  });
});

describe('the time an execution waits for a slot', () => {
  let saved;
  beforeEach(() => {
    saved = configure();
  });
  afterEach(() => configure(saved));

  it('is queueMs, and a refused execution has an empty record with ERR_SCRIPT_BUSY as its outcome', async () => {
    configure({ maxConcurrency: 1, maxQueue: 1 });
    const spin = 'const end = Date.now() + 150; while (Date.now() < end) {}';
    const first = runBackendScript(spin, {}, null, { cpuTimeMs: 2000 });
    const second = runBackendScript(spin, {}, null, { cpuTimeMs: 2000 });
    const refused = await runBackendScript(spin).catch((e) => e);
    expect(refused.code).toBe('ERR_SCRIPT_BUSY');
    expect(refused.stats).toEqual({
      outcome: 'ERR_SCRIPT_BUSY',
      durationMs: 0,
      cpuMs: 0,
      peakMemoryBytes: 0,
      queueMs: 0,
      httpWaitMs: 0,
      httpRequests: 0,
      requests: [],
      hostWaitMs: 0,
      hostCalls: [],
    });
    const [a, b] = await Promise.all([first, second]);
    // The second waited while the first ran.
    expect(b.stats.queueMs).toBeGreaterThanOrEqual(100);
    expect(a.stats.queueMs).toBeLessThan(b.stats.queueMs);
  });
});

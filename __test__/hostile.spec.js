'use strict';

// Pages and scripts written by an attacker. Whatever they do, the caller hears an answer within
// the budget, the thread that ran them stops, Node's event loop keeps turning, and nothing reaches
// the host's stderr. Cases that would have killed the process run in a child process.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runBackendScript, renderPage, executorStats } = require('..');
const { timed } = require('./support/scripts');
const { HOSTILE_SCRIPTS } = require('./support/hostile-scripts');

const ROOT = path.join(__dirname, '..');

/** Runs `body` (an async function body that returns a JSON value) in a fresh Node process. */
function inChild(body, env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-scripts-hostile-'));
  const file = path.join(dir, 'child.js');
  fs.writeFileSync(
    file,
    `const addon = require(${JSON.stringify(ROOT)});
    (async () => { ${body} })().then((v) => process.stdout.write(JSON.stringify(v)), (e) => { console.error(e); process.exit(3); });`,
  );
  return new Promise((resolve) =>
    execFile(process.execPath, [file], { timeout: 60000, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ status: error ? (error.code ?? error.signal) : 0, value: stdout ? JSON.parse(stdout) : undefined, stderr });
    }),
  );
}

/** Resolves once no abandoned thread is left, or after `ms` with what is left. */
async function abandonedAfter(ms) {
  const until = Date.now() + ms;
  while (executorStats().abandoned > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return executorStats().abandoned;
}

describe('builtins that walk a huge length or do super-linear work in one call', () => {
  // Every script found that could outlast its budget; the list grows with every one found.
  it.each(HOSTILE_SCRIPTS)('%s: answered within the budget, and its thread stops', async (_what, source) => {
    const { value, ms } = await timed(runBackendScript(source, null, null, { cpuTimeMs: 100 }).catch((e) => e));
    // Ended by a budget, or refused by the builtin itself (a length past what an array can hold).
    expect(['ERR_SCRIPT_TIMEOUT', 'ERR_SCRIPT_MEMORY', 'ERR_SCRIPT_EXCEPTION', 'ERR_SCRIPT_OUTPUT_LIMIT']).toContain(value.code);
    // 1.5 × cpuTimeMs + 100 ms, with room for a loaded machine.
    expect(ms).toBeLessThan(1000);
    expect(await abandonedAfter(2000)).toBe(0);
  });
});

describe('pages that would overflow a parser', () => {
  it.each([
    ['20,000 unary minus', `{{ ${'-'.repeat(20000)}1 }}`],
    ['20,000 not', `{{ ${'not '.repeat(20000)}x }}`],
    ['20,000 additions', `{{ 1${' + 1'.repeat(20000)} }}`],
    ['20,000 concatenations', `{{ "a"${' ~ "a"'.repeat(20000)} }}`],
    ['20,000 nested brackets', `{{ ${'['.repeat(20000)}${']'.repeat(20000)} }}`],
    ['20,000 nested parentheses', `{{ ${'('.repeat(20000)}1${')'.repeat(20000)} }}`],
    ['20,000 nested ifs', `${'{% if true %}'.repeat(20000)}x${'{% endif %}'.repeat(20000)}`],
  ])('fail %s with ERR_PAGE_TEMPLATE, and the process lives', async (_what, page) => {
    const child = await inChild(`return addon.renderPage(${JSON.stringify(page)}, {}).then(() => 'rendered', (e) => e.code);`);
    expect(child).toEqual({ status: 0, value: 'ERR_PAGE_TEMPLATE', stderr: '' });
  });
});

describe('templates whose values share themselves', () => {
  // Forty doublings of a value that holds itself twice: cheap to make, 2**40 times its size as text.
  const BOMB = `{% set x = "abcdefgh" %}${'{% set x = [x, x] %}'.repeat(40)}`;
  it.each([
    ['printed', '{{ x }}'],
    ['concatenated with ~', '{{ x ~ "" }}'],
    ['concatenated with a safe string', '{{ "<b>"|safe ~ x }}'],
    ['as JSON', '{{ x|tojson }}'],
    ['as a string', '{{ x|string }}'],
    ['pretty-printed', '{{ x|pprint }}'],
    ['lower-cased', '{{ x|lower }}'],
    ['formatted', '{{ "%s"|format(x) }}'],
    ['joined', '{{ x|join(",") }}'],
    ['marked safe', '{{ x|safe }}'],
    ['escaped', '{{ x|e }}'],
  ])('fail %s with ERR_SCRIPT_OUTPUT_LIMIT, holding no more than the limit', async (_what, use) => {
    const child = await inChild(`return addon.renderPage(${JSON.stringify(BOMB + use)}, {}).then(() => 'rendered', (e) => e.code);`);
    expect(child).toEqual({ status: 0, value: 'ERR_SCRIPT_OUTPUT_LIMIT', stderr: '' });
  });

  // A second such value, equal to the first but not the same: comparing them, hashing one or
  // sorting them walks 2**40 containers, and no fuel is charged for it.
  const TWO = BOMB + `{% set y = "abcdefgh" %}${'{% set y = [y, y] %}'.repeat(40)}`;
  it.each([
    ['used as a key', '{{ {x: 1}|length }}'],
    ['compared', '{{ x == y }}'],
    ['ordered', '{{ x < y }}'],
    ['sorted', '{{ [y, x]|sort|length }}'],
    ['deduplicated', '{{ [x, y]|unique|list|length }}'],
    ['looked for', '{{ x in [y] }}'],
  ])('fail when %s, with ERR_PAGE_TEMPLATE', async (_what, use) => {
    const child = await inChild(
      `return addon.renderPage(${JSON.stringify(TWO + use)}, {}).then(() => 'rendered', (e) => e.code + ': ' + e.message);`,
    );
    expect(child).toEqual({
      status: 0,
      value:
        'ERR_PAGE_TEMPLATE: page template error: a value is too large to compare, sort or use as a key (it holds itself over and over)',
      stderr: '',
    });
  });

  it('leave ordinary comparisons and sorts alone', async () => {
    const { body } = await renderPage(
      '{{ [3, 1, 2]|sort|join(",") }} {{ {"a": [1, 2]} == {"a": [1, 2]} }} {{ [{"n": 2}, {"n": 1}]|sort(attribute="n")|map(attribute="n")|join }}',
    );
    expect(body).toBe('1,2,3 true 12');
  });
});

describe("preparing a hostile page never holds Node's thread", () => {
  it.each([
    ['200 KB of unclosed script tags in a comment', '<!--' + '<script a '.repeat(20000)],
    ['a raw block full of openers', '{% raw %}' + '{%'.repeat(20000)],
    ['10,000 nots', `{{ ${'not '.repeat(10000)}x }}`],
    // Only the copy of the page's text is done on Node's thread: about 10 ms a MiB.
    ['a MiB of nested tags', '<div>'.repeat(1 << 18)],
  ])('%s: the event loop keeps turning, and the second request fails as fast', async (_what, page) => {
    for (let round = 0; round < 2; round++) {
      let worst = 0;
      let last = performance.now();
      const tick = setInterval(() => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
      }, 2);
      await renderPage(page, {}).catch((e) => e);
      clearInterval(tick);
      expect(worst).toBeLessThan(100);
    }
  });
});

describe('values that cross the boundary', () => {
  it('replaces lone surrogates with U+FFFD both ways, never refusing them', async () => {
    const result = await renderPage(
      '<script scope="backend">setVariable("mine", "a\\ud800"); session.set("s", getVariable("given") + "\\udfff")</script>{{ var.given }}|{{ var.mine }}',
      { variables: { given: 'b\udc00' } },
    );
    expect(result.body).toBe('b\ufffd|a\ufffd');
    expect(result.session.s).toBe('b\ufffd\ufffd');
  });

  it('refuses a variable nested deeper than 512 levels with a clear error, not an empty page', async () => {
    const deep = JSON.parse('['.repeat(600) + ']'.repeat(600));
    await expect(renderPage('{{ var.x }}', { variables: { x: deep } })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
      message: expect.stringContaining('nested deeper than 512 levels'),
    });
    const set = await runBackendScript(`let d = []; for (let i = 0; i < 600; i++) d = [d]; setVariable('x', d)`).catch((e) => e);
    expect(set.code).toBe('ERR_SCRIPT_EXCEPTION');
  });

  (typeof JSON.rawJSON === 'function' ? it : it.skip)('refuses a number past what a double holds', async () => {
    await expect(renderPage('{{ var.x }}', { variables: { x: JSON.rawJSON('1e400') } })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
    });
  });

  it('counts cookie paths and domains in maxOutputBytes', async () => {
    const source = `const path = '/' + 'p'.repeat(200000); for (let i = 0; i < 10; i++) cookie.set('c' + i, '1', { path })`;
    await expect(runBackendScript(source, null, null, { maxOutputBytes: 1 << 20, cpuTimeMs: 5000 })).rejects.toMatchObject({
      code: 'ERR_SCRIPT_OUTPUT_LIMIT',
    });
  });
});

describe('scripts that go after the host itself', () => {
  it('reports a thrown value whose getters loop as ERR_SCRIPT_TIMEOUT', async () => {
    const error = await runBackendScript('throw { get name() { for (;;) {} }, get message() { for (;;) {} } }', null, null, {
      cpuTimeMs: 100,
    }).catch((e) => e);
    expect(error.code).toBe('ERR_SCRIPT_TIMEOUT');
  });

  it('reports running out of memory as ERR_SCRIPT_MEMORY when not even the error could be made', async () => {
    // JSON.stringify's result outgrows the heap; the InternalError cannot be allocated either, so
    // QuickJS throws null, and the memory is free again by the time the failure is read.
    const source = 'const a = Array.from({ length: 300000 }, (_, i) => ({ i, s: "x".repeat(20) })); JSON.stringify(a);';
    const error = await runBackendScript(source, null, null, { cpuTimeMs: 5000 }).catch((e) => e);
    expect(error.code).toBe('ERR_SCRIPT_MEMORY');
    // A script's own `throw null` stays its exception.
    expect((await runBackendScript('throw null').catch((e) => e)).code).toBe('ERR_SCRIPT_EXCEPTION');
  });

  it('reports running out of memory while parsing as ERR_SCRIPT_MEMORY', async () => {
    const error = await runBackendScript('a++;'.repeat(1 << 20), null, null, { memoryLimitBytes: 32 << 20, cpuTimeMs: 10000 }).catch(
      (e) => e,
    );
    expect(error.code).toBe('ERR_SCRIPT_MEMORY');
  });

  it('survives a rejection whose stack getter rejects again, with nothing on stderr', async () => {
    const child = await inChild(
      `return addon.runBackendScript("let a; Promise.reject({ get stack() { Promise.reject(2); return '' } })").then(() => 'ran', (e) => e.code);`,
    );
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(['ran', 'ERR_SCRIPT_EXCEPTION']).toContain(child.value);
  });

  it("shows scripts UTC, not the host's time zone", async () => {
    const child = await inChild(
      `const r = await addon.runBackendScript("setVariable('d', [new Date(2020, 0, 1).toISOString(), new Date(0).getTimezoneOffset(), new Date(0).toString()])");
       return r.variables.d;`,
      { TZ: 'America/New_York' },
    );
    expect(child.value).toEqual(['2020-01-01T00:00:00.000Z', 0, expect.stringMatching(/^Thu Jan 01 1970 00:00:00 GMT\+0000/)]);
  });

  it.each([
    ['a protocol-relative Location', "response.status(302).setHeader('Location', '//evil.example/x').send('')"],
    ['a javascript: Location', "response.status(302).setHeader('Location', 'javascript:alert(1)').send('')"],
    ['a backslash Location', "response.status(302).setHeader('Location', '/\\\\evil.example').send('')"],
    ['status 101', "response.status(101).send('')"],
    ['status 100', 'response.status(100)'],
    ['a Refresh header with a URL', "response.setHeader('Refresh', '0; url=https://evil.example')"],
  ])('refuses %s', async (_what, source) => {
    await expect(runBackendScript(source)).rejects.toMatchObject({ code: 'ERR_SCRIPT_EXCEPTION' });
  });
});

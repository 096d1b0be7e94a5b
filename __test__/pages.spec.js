'use strict';

// renderPage: a page's backend blocks run as one script, are removed from the output, and the
// rest is rendered as an auto-escaped Jinja template with the script's variables.
const { renderPage } = require('../lib');

async function failureOf(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

const SECRET = 'var apiKey = "sk-live-do-not-leak"';

describe('renderPage', () => {
  it('runs the backend blocks and renders the page with their variables', async () => {
    const page = `<h1>Hello {{ var.user.name }}</h1>
<script scope="backend">
  setVariable('user', { name: 'Ada' });
</script>
<p>{{ var.greeting }}</p>`;
    const result = await renderPage(page, { variables: { greeting: 'hi' } });
    expect(result.status).toBe(200);
    expect(result.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(result.body).toBe('<h1>Hello Ada</h1>\n\n<p>hi</p>');
    expect(result.variables).toEqual({ greeting: 'hi', user: { name: 'Ada' } });
  });

  it('runs every block in document order as one execution that shares globals', async () => {
    const page = `<script scope="backend">var order = ['first']; let shared = 1;</script>
<p>{{ var.order }}</p>
<SCRIPT SCOPE='BACKEND'>order.push('second'); shared++;</SCRIPT>
<script type="text/x" scope=backend data-x="1">order.push('third'); setVariable('order', order.join(',')); setVariable('shared', shared)</script>
{{ var.shared }}`;
    const result = await renderPage(page);
    expect(result.body).toBe('\n<p>first,second,third</p>\n\n\n2');
  });

  it('removes every backend block from the output and leaves other scripts as they are', async () => {
    const page = `<script>window.client = 1;</script>
<script scope="backend">${SECRET}; setVariable('x', 1)</script>
<script scope="frontend">client()</script>
<script type="module">import './a.js'</script>
<script scope='backend'>${SECRET}</script><script scope=backend>${SECRET}</script>`;
    const result = await renderPage(page);
    expect(result.body).not.toContain('sk-live-do-not-leak');
    expect(result.body).not.toContain('backend');
    expect(result.body).toContain('<script>window.client = 1;</script>');
    expect(result.body).toContain('<script scope="frontend">client()</script>');
    expect(result.body).toContain(`<script type="module">import './a.js'</script>`);
  });

  it('ends a block where a browser would, so no part of it is left in the page', async () => {
    // After '<!--<script>' a browser reads past the next end tag, up to the one after '-->'.
    const page = `<script scope="backend">
  setVariable('s', '<!--<script>'); /* </script> is not the end here */ ${SECRET}; setVariable('after', 1)
  // -->
</script><p>{{ var.after }}</p>`;
    const result = await renderPage(page);
    expect(result.body).toBe('<p>1</p>');
  });

  it('drops a commented-out backend block without running it', async () => {
    const page = `<p>a</p><!-- <script scope="backend">${SECRET}; setVariable('ran', true)</script> --><p>{{ var.ran }}</p>`;
    const result = await renderPage(page);
    expect(result.body).toBe('<p>a</p><p></p>');
    expect(result.variables).toEqual({});
  });

  it('escapes everything a script sets, in text and in attributes', async () => {
    const page = `<script scope="backend">
  setVariable('x', '<img src=x onerror=alert(1)>"\\'&');
  setVariable('items', ['<b>', '<\\/script>']); // as in a browser, a literal end tag would end the block
</script><a title="{{ var.x }}">{{ var.x }}</a>{% for i in var.items %}[{{ i }}]{% endfor %}`;
    const { body } = await renderPage(page);
    expect(body).not.toMatch(/<img|<b>|<\/script>/);
    expect(body).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
    expect(body).toContain('[&lt;b&gt;]');
    expect(body).not.toMatch(/title="[^"]*"[^>]*"/);
  });

  it('escapes variables given in the context too, and only |safe opts out', async () => {
    const { body } = await renderPage('{{ var.a }}|{{ var.a|safe }}', { variables: { a: '<i>' } });
    expect(body).toBe('&lt;i&gt;|<i>');
  });

  it('prints nothing for a missing variable or a path through one', async () => {
    const { body } = await renderPage('[{{ var.nope }}][{{ var.nope.deeper }}][{{var.user.email}}]', { variables: { user: {} } });
    expect(body).toBe('[][][]');
  });

  it('supports Jinja conditions, loops and filters', async () => {
    const page = `<script scope="backend">
  setVariable('show_banner', true);
  setVariable('orders', [{ id: 1, total: 9.5 }, { id: 2, total: 20 }]);
</script>{% if var.show_banner %}<b>sale</b>{% endif %}<ul>{% for order in var.orders %}<li>{{ order.id }}: {{ "%.2f"|format(order.total) }}</li>{% endfor %}</ul>{{ var.orders|length }} {{ var.title|default("untitled")|upper }}`;
    const { body } = await renderPage(page);
    expect(body).toBe('<b>sale</b><ul><li>1: 9.50</li><li>2: 20.00</li></ul>2 UNTITLED');
  });

  it('prints values as JavaScript prints them: booleans, numbers, nothing for null, JSON for arrays and objects', async () => {
    const values = {
      yes: true,
      no: false,
      nothing: null,
      half: 1.5,
      whole: 2,
      big: 1e21,
      tiny: 1e-7,
      negativeZero: -0,
      sum: 0.1 + 0.2,
      text: "O'Brien & <Co>",
      list: [1, 2.5, 'x', null, true],
      company: { name: "O'Brien & <Co>", n: 1.5, zebra: 1, apple: { deep: [{ x: null, url: 'https://a.example/b' }] } },
    };
    const page = `<script scope="backend">
  const values = ${JSON.stringify(values)};
  values.negativeZero = -0;
  for (const [name, value] of Object.entries(values)) setVariable(name, value);
</script>${Object.keys(values)
      .map((name) => `{{ var.${name}|safe }}`)
      .join('\n')}
[{{ var.undefinedOne }}]`;
    const { body } = await renderPage(page);
    // Unescaped, each prints as JavaScript turns it into text (JSON.stringify for arrays and objects).
    const expected = Object.values(values).map((v) => (v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)));
    expect(body).toBe(`${expected.join('\n')}\n[]`);
  });

  it('escapes the printed text with five entities and leaves slashes alone', async () => {
    const variables = { company: { name: "O'Brien & <Co>", tags: ['a/b'] }, url: 'https://example.com/a?b=1&c=2' };
    const { body } = await renderPage('<a href="{{ var.url }}" title="{{ var.company }}">{{ var.company.name }}</a>', { variables });
    expect(body).toBe(
      '<a href="https://example.com/a?b=1&amp;c=2" title="{&quot;name&quot;:&quot;O&#39;Brien &amp; &lt;Co&gt;&quot;,&quot;tags&quot;:[&quot;a/b&quot;]}">O&#39;Brien &amp; &lt;Co&gt;</a>',
    );
  });

  it('prints the same way inside join, string, escape and safe', async () => {
    const variables = { flags: [true, null, 1, 1e21, '<b>'], people: [{ name: 'Ada' }, { name: 'Alan' }] };
    const template = [
      '{{ var.flags|join(", ") }}',
      '{{ [true, none, 1]|join(", ") }}',
      '{{ var.people|join("; ")|safe }}',
      '{{ var.people|join(", ", attribute="name") }}',
      '{{ var.flags|join("<br>"|safe) }}',
      '{{ false|string }}/{{ (4 / 2)|string }}/{{ var.people|e }}',
    ].join('\n');
    const { body } = await renderPage(template, { variables });
    expect(body.split('\n')).toEqual([
      'true, , 1, 1e+21, &lt;b&gt;',
      'true, , 1',
      '{"name":"Ada"}; {"name":"Alan"}',
      'Ada, Alan',
      'true<br><br>1<br>1e+21<br>&lt;b&gt;',
      'false/2/[{&quot;name&quot;:&quot;Ada&quot;},{&quot;name&quot;:&quot;Alan&quot;}]',
    ]);
  });

  it('prints the same way in ~ concatenation, escaped once, and folds only strings', async () => {
    const variables = { flag: true, none: null, big: 1e21, half: 0.5, list: [1, 'a'], person: { name: "O'Brien & <Co>" } };
    const template = [
      '{{ "flag: " ~ var.flag ~ ", none: " ~ var.none ~ ", big: " ~ var.big ~ ", half: " ~ var.half }}',
      '{{ var.list ~ " / " ~ var.person }}',
      '{{ "a" ~ true ~ none ~ 2.0 ~ "<b>" }}',
      '{{ "<i>"|safe ~ var.flag }}',
      '{% autoescape false %}{{ "<" ~ var.person }}{% endautoescape %}',
    ].join('\n');
    const { body } = await renderPage(template, { variables });
    expect(body.split('\n')).toEqual([
      'flag: true, none: , big: 1e+21, half: 0.5',
      '[1,&quot;a&quot;] / {&quot;name&quot;:&quot;O&#39;Brien &amp; &lt;Co&gt;&quot;}',
      'atrue2&lt;b&gt;',
      '<i>true',
      '<{"name":"O\'Brien & <Co>"}',
    ]);
  });

  it('answers a redirect with its status, a location and no body', async () => {
    const result = await renderPage('<p>{{ var.x }}</p><script scope="backend">redirect("/login")</script>');
    expect(result).toMatchObject({ status: 302, body: '', headers: { location: '/login' } });
    const moved = await renderPage('<script scope="backend">redirect("https://example.com/", 301)</script>');
    expect(moved).toMatchObject({ status: 301, headers: { location: 'https://example.com/' } });
  });

  it('answers send() and json() with their body, status and headers instead of the page', async () => {
    const json = await renderPage('<p>page</p><script scope="backend">response.status(201).json({ ok: true })</script>');
    expect(json).toMatchObject({ status: 201, body: '{"ok":true}' });
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    const text = await renderPage('<script scope="backend">response.setHeader("content-type", "text/plain").send("plain")</script>');
    expect(text).toMatchObject({ status: 200, body: 'plain', headers: { 'content-type': 'text/plain' } });
  });

  it('renders with the status the script set', async () => {
    const result = await renderPage('<script scope="backend">response.status(403).setHeader("x-reason", "token")</script>denied');
    expect(result).toMatchObject({ status: 403, body: 'denied', headers: { 'x-reason': 'token' } });
  });

  it('hands back session and cookie changes and logs', async () => {
    const page = `<script scope="backend">
  session.set('visits', (session.get('visits') ?? 0) + 1);
  cookie.set('theme', 'dark', { maxAge: 1000 });
  console.log('rendered');
</script>{{ var.x }}`;
    const result = await renderPage(page, { session: { visits: 2 } });
    expect(result.session).toEqual({ visits: 3 });
    expect(result.sessionChanged).toBe(true);
    expect(result.cookies).toEqual([{ name: 'theme', value: 'dark', options: expect.objectContaining({ maxAge: 1000, path: '/' }) }]);
    expect(result.logs).toEqual([{ level: 'log', message: 'rendered' }]);
    expect(result.stats.httpRequests).toBe(0);
  });

  it('serves a page without backend blocks as a template', async () => {
    const result = await renderPage('<p>{{ var.a }}</p>', { variables: { a: 1 } });
    expect(result.body).toBe('<p>1</p>');
  });

  it('gives script errors the line and column of the page itself', async () => {
    const page =
      '<!doctype html>\n<h1>Title</h1>\n<script scope="backend">\n  setVariable("a", 1);\n  missing();\n</script>\n<p>x</p><script scope="backend">  null.boom</script>';
    const error = await failureOf(renderPage(page));
    expect(error.code).toBe('ERR_SCRIPT_EXCEPTION');
    expect([error.line, error.column]).toEqual([5, 3]);

    const second = await failureOf(renderPage(page.replace('missing();', '')));
    expect(second.line).toBe(7);
    expect(second.column).toBe(page.split('\n')[6].indexOf('null.boom') + 1);

    const syntax = await failureOf(renderPage('<p>\n</p>\n<script scope=backend>\nlet x = ;\n</script>'));
    expect(syntax.code).toBe('ERR_SCRIPT_SYNTAX');
    expect(syntax.line).toBe(4);
  });

  it('keeps blocks separate statements, as separate script elements are', async () => {
    const page =
      '<script scope="backend">var a = 1 // no semicolon</script>\n<script scope="backend">(function () { setVariable("a", a) })()</script>{{ var.a }}';
    expect((await renderPage(page)).body).toBe('\n1');
  });

  it('never puts the script source in an error, whatever fails', async () => {
    const failing = [
      `${SECRET}; throw new Error('failed')`,
      `${SECRET}; let = ;`,
      `${SECRET}; while (true) {}`,
      `${SECRET}; undefinedFunction()`,
    ];
    for (const body of failing) {
      const error = await failureOf(renderPage(`<p>x</p><script scope="backend">${body}</script>`, null, null, { cpuTimeMs: 50 }));
      expect(error.code).toMatch(/^ERR_SCRIPT_/);
      expect(JSON.stringify({ ...error, message: error.message, stack: error.stack })).not.toContain('sk-live-do-not-leak');
    }
  });

  it('rejects a template that does not compile with ERR_PAGE_TEMPLATE and the page line', async () => {
    const page = '<p>one</p>\n<script scope="backend">\n  setVariable("a", 1);\n</script>\n{% if var.a %}\n<p>never closed</p>\n';
    const error = await failureOf(renderPage(page));
    expect(error.code).toBe('ERR_PAGE_TEMPLATE');
    expect(error.message).toMatch(/^page template error on line \d+: syntax error/);
    expect(error.line).toBeGreaterThanOrEqual(5);
    expect(error.message).not.toContain('setVariable');
  });

  it('names the line of a template error found while rendering, and keeps the logs', async () => {
    const page = '<script scope="backend">console.log("before"); setVariable("n", "text")</script>\n<p>\n{{ var.n + 1 }}\n</p>';
    const error = await failureOf(renderPage(page));
    expect(error.code).toBe('ERR_PAGE_TEMPLATE');
    expect(error.line).toBe(3);
    expect(error.message).toContain('line 3');
    expect(error.logs).toEqual([{ level: 'log', message: 'before' }]);
  });

  it('stops a template loop that would run for ever', async () => {
    const started = Date.now();
    const error = await failureOf(renderPage('{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}'));
    expect(error.code).toBe('ERR_PAGE_TEMPLATE');
    expect(error.message).toMatch(/rendering budget/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('counts the rendered page against maxOutputBytes', async () => {
    const page = '{% for i in range(1000) %}{{ var.s }}{% endfor %}';
    const error = await failureOf(renderPage(page, { variables: { s: 'x'.repeat(100) } }, null, { maxOutputBytes: 10000 }));
    expect(error.code).toBe('ERR_SCRIPT_OUTPUT_LIMIT');
    const ok = await renderPage(page, { variables: { s: 'x' } }, null, { maxOutputBytes: 10000 });
    expect(ok.body).toHaveLength(1000);
  });

  it('serves the same page again from its prepared form, with a fresh execution each time', async () => {
    const page = '<script scope="backend">globalThis.count = (globalThis.count ?? 0) + 1; setVariable("c", count)</script>{{ var.c }}';
    const bodies = await Promise.all(Array.from({ length: 20 }, () => renderPage(page).then((r) => r.body)));
    expect(new Set(bodies)).toEqual(new Set(['1']));
  });

  it('validates its arguments as runBackendScript does', async () => {
    const notString = await failureOf(renderPage(42));
    expect(notString.name).toBe('TypeError');
    expect(notString.code).toBe('ERR_INVALID_ARG_TYPE');
    const badLimit = await failureOf(renderPage('<p></p>', null, null, { cpuTimeMs: -1 }));
    expect(badLimit.code).toBe('ERR_INVALID_ARG_VALUE');
  });
});

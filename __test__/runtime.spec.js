'use strict';

// The globals a script sees and the result it hands back.
const { run, failureOf } = require('./support/scripts');

/** Runs `source` and returns what it printed, one message per entry. */
async function printed(source, context) {
  const { logs } = await run(source, context);
  return logs.map((entry) => entry.message);
}

describe('the result of a script that does nothing', () => {
  it('lets the page render and reports no changes', async () => {
    const result = await run('');
    expect(result).toEqual({
      action: 'render',
      status: null,
      headers: {},
      location: null,
      body: null,
      variables: {},
      session: {},
      sessionChanged: false,
      sessionChanges: { set: {}, deleted: [] },
      cookies: [],
      logs: [],
      stats: {
        outcome: 'ok',
        durationMs: expect.any(Number),
        cpuMs: expect.any(Number),
        peakMemoryBytes: expect.any(Number),
        queueMs: expect.any(Number),
        httpWaitMs: 0,
        httpRequests: 0,
        requests: [],
        hostWaitMs: 0,
        hostCalls: [],
      },
    });
    expect(result.stats.durationMs).toBeGreaterThanOrEqual(0);
    expect(result.stats.cpuMs).toBeGreaterThanOrEqual(0);
  });

  it('accepts an absent context, proxy config and options as null or undefined alike', async () => {
    await expect(run('', undefined, undefined)).resolves.toMatchObject({ action: 'render' });
    await expect(run('', {}, {})).resolves.toMatchObject({ action: 'render' });
  });
});

describe('request', () => {
  const context = {
    request: {
      method: 'post',
      url: '/shop?item=7',
      path: '/shop',
      query: { item: '7', tags: ['a', 'b'] },
      params: { id: '42' },
      headers: { 'X-Forwarded-For': '10.0.0.1', Accept: 'text/html' },
      cookies: { sid: 'abc' },
      body: { nested: { deep: [1, 2] } },
      ip: '127.0.0.1',
    },
  };

  it('is a copy of context.request with the method upper-cased and header names lower-cased', async () => {
    const [seen] = await printed('console.log(JSON.stringify(request))', context);
    expect(JSON.parse(seen)).toEqual({
      ...context.request,
      method: 'POST',
      headers: { 'x-forwarded-for': '10.0.0.1', accept: 'text/html' },
    });
  });

  it('is deep-frozen: the script cannot change any part of it', async () => {
    const logs = await printed(
      `'use strict';
       const parts = [request, request.query, request.query.tags, request.headers, request.body.nested.deep];
       console.log(parts.every(Object.isFrozen));
       try { request.body.nested.deep.push(3); } catch (e) { console.log(e.name); }
       try { request.method = 'DELETE'; } catch (e) { console.log(e.name); }
       console.log(request.method, request.body.nested.deep.length);`,
      context,
    );
    expect(logs).toEqual(['true', 'TypeError', 'TypeError', 'POST 2']);
  });

  it('leaves the caller’s context untouched', async () => {
    const snapshot = JSON.stringify(context);
    await run('request.query.item', context);
    expect(JSON.stringify(context)).toBe(snapshot);
  });

  it('has every field with its default when no request is given, so request.query.token never throws', async () => {
    const [seen] = await printed('console.log(JSON.stringify([request, request.query.token === undefined]))');
    expect(JSON.parse(seen)).toEqual([
      { method: 'GET', url: '', path: '', query: {}, params: {}, headers: {}, cookies: {}, body: null, ip: '' },
      true,
    ]);
  });
});

describe('session', () => {
  it('reads the visitor’s session, and null for a key it does not hold', async () => {
    const logs = await printed('console.log(session.get("user"), session.get("missing"))', { session: { user: { name: 'Ada' } } });
    expect(logs).toEqual(['{"name":"Ada"} null']);
  });

  it('hands back the whole session after set and delete, and says it changed', async () => {
    const result = await run('session.set("cart", [1, 2]); session.delete("stale"); session.set("user", "Bob")', {
      session: { user: 'Ada', stale: true, kept: 1 },
    });
    expect(result.session).toEqual({ user: 'Bob', kept: 1, cart: [1, 2] });
    expect(result.sessionChanged).toBe(true);
  });

  it('names each change, key by key, for a host to apply to a session that may have moved on', async () => {
    const result = await run(
      'session.set("cart", [1, 2]); session.delete("stale"); session.set("user", "Bob"); session.set("kept", 2); session.set("kept", 1)',
      { session: { user: 'Ada', stale: true, kept: 1 } },
    );
    expect(result.sessionChanges).toEqual({ set: { cart: [1, 2], user: 'Bob' }, deleted: ['stale'] });
  });

  it('does not count reads, re-setting an equal value or deleting a missing key as a change', async () => {
    const result = await run('session.get("n"); session.set("n", 1); session.delete("missing")', { session: { n: 1 } });
    expect(result).toMatchObject({ session: { n: 1 }, sessionChanged: false, sessionChanges: { set: {}, deleted: [] } });
  });

  it('hands out copies: changing a value read from the session changes nothing until it is set', async () => {
    const result = await run(
      `const cart = session.get('cart'); cart.push(3);
       console.log(JSON.stringify(session.get('cart')));
       const fresh = { n: 1 }; session.set('fresh', fresh); fresh.n = 2;`,
      { session: { cart: [1, 2] } },
    );
    expect(result.logs[0].message).toBe('[1,2]');
    expect(result.session).toEqual({ cart: [1, 2], fresh: { n: 1 } });
  });

  it('refuses a key that is not a string with a TypeError that names the call', async () => {
    const [seen] = await printed('try { session.get(5) } catch (e) { console.log(e.name + ": " + e.message) }');
    expect(seen).toMatch(/^TypeError: session\.get/);
  });
});

describe('setVariable and getVariable', () => {
  it('overlay the host’s variables and see them', async () => {
    const result = await run(
      `console.log(getVariable('title'), getVariable('missing'));
       setVariable('title', getVariable('title') + '!'); setVariable('count', 3);`,
      { variables: { title: 'Shop', theme: 'dark' } },
    );
    expect(result.logs[0].message).toBe('Shop null');
    expect(result.variables).toEqual({ title: 'Shop!', theme: 'dark', count: 3 });
  });

  it('refuses an empty name', async () => {
    const error = await failureOf(run('setVariable("", 1)'));
    expect(error.message).toMatch(/setVariable: the name must not be empty/);
  });
});

describe('values crossing the boundary', () => {
  it('are copied with JSON semantics', async () => {
    const result = await run(
      `setVariable('date', new Date(0));
       setVariable('undef', undefined);
       setVariable('mixed', { gone: undefined, fn() {}, nan: NaN, list: [undefined, Infinity], map: new Map([[1, 2]]) });`,
    );
    expect(result.variables).toEqual({
      date: '1970-01-01T00:00:00.000Z',
      undef: null,
      mixed: { nan: null, list: [null, null], map: {} },
    });
  });

  it.each([
    ['a cycle', 'const v = {}; v.self = v;'],
    ['a BigInt', 'const v = { n: 1n };'],
    ['a function', 'const v = () => 1;'],
    ['a symbol', 'const v = Symbol("s");'],
  ])('makes the call that received %s throw a TypeError, and stores nothing', async (_, make) => {
    const calls = ['setVariable("v", v)', 'session.set("v", v)', 'response.json(v)', 'cookie.set("v", "x", v)'];
    const script = `${make}
      for (const call of ${JSON.stringify(calls)}) {
        try { eval(call); console.log(call, 'did not throw'); } catch (e) { console.log(e.name); }
      }`;
    const result = await run(script);
    expect(result.logs.map((l) => l.message)).toEqual(['TypeError', 'TypeError', 'TypeError', 'TypeError']);
    expect(result).toMatchObject({ action: 'render', variables: {}, session: {}, sessionChanged: false, cookies: [], body: null });
  });

  it('names JavaScript types, not engine ones, when a value has the wrong type', async () => {
    const logs = await printed(
      `for (const call of ['session.get(5)', 'response.send(5)', 'response.status(1n)', 'setVariable("f", class {})']) {
         try { eval(call); } catch (e) { console.log(e.message); }
       }`,
    );
    expect(logs).toEqual([
      'session.get: the key must be a string, not number',
      'response.send: the body must be a string, not number (use response.json for data)',
      'response.status: the code must be a number, not bigint',
      'setVariable: a function cannot be copied; only JSON values can',
    ]);
  });
});

describe('cookie', () => {
  it('records cookies to set with secure defaults, and deletions with a null value', async () => {
    const result = await run(
      `cookie.set('theme', 'dark');
       cookie.set('sid', 'abc', { maxAge: 60000, path: '/shop', domain: 'example.com', secure: true, httpOnly: false, sameSite: 'Strict' });
       cookie.delete('old');`,
    );
    expect(result.cookies).toEqual([
      { name: 'theme', value: 'dark', options: { path: '/', secure: false, httpOnly: true, sameSite: 'lax' } },
      {
        name: 'sid',
        value: 'abc',
        options: { maxAge: 60000, path: '/shop', domain: 'example.com', secure: true, httpOnly: false, sameSite: 'strict' },
      },
      { name: 'old', value: null, options: { path: '/', secure: false, httpOnly: true, sameSite: 'lax' } },
    ]);
  });

  it('keeps only the latest change to the same cookie', async () => {
    const result = await run('cookie.set("a", "1"); cookie.delete("a"); cookie.set("a", "2")');
    expect(result.cookies.map(({ name, value }) => [name, value])).toEqual([['a', '2']]);
  });

  it.each([
    ['an unknown option', 'cookie.set("a", "1", { expires: 1 })'],
    ['sameSite none without secure', 'cookie.set("a", "1", { sameSite: "none" })'],
    ['a name that is not a token', 'cookie.set("a b", "1")'],
    ['a value that is not a string', 'cookie.set("a", 1)'],
    ['a path with a semicolon', 'cookie.set("a", "1", { path: "/a;b" })'],
  ])('refuses %s with a TypeError', async (_, call) => {
    const result = await run(`try { ${call}; console.log('accepted') } catch (e) { console.log(e.name) }`);
    expect(result.logs).toEqual([{ level: 'log', message: 'TypeError' }]);
    expect(result.cookies).toEqual([]);
  });
});

describe('redirect', () => {
  it('answers with a 302 to a site path by default', async () => {
    const result = await run('redirect("/login?next=/cart")');
    expect(result).toMatchObject({ action: 'redirect', status: 302, location: '/login?next=/cart', body: null });
  });

  it.each([301, 302, 303, 307, 308])('accepts status %i', async (status) => {
    await expect(run(`redirect('https://example.com/a', ${status})`)).resolves.toMatchObject({
      action: 'redirect',
      status,
      location: 'https://example.com/a',
    });
  });

  it.each(['javascript:alert(1)', 'data:text/html,hi', '//evil.example', '/\\\\evil.example', 'login', 'ftp://example.com/'])(
    'refuses %p with a TypeError the script can catch',
    async (target) => {
      const result = await run(`try { redirect(${JSON.stringify(target)}) } catch (e) { console.log(e.name) }`);
      expect(result).toMatchObject({ action: 'render', location: null, logs: [{ level: 'log', message: 'TypeError' }] });
    },
  );

  it.each([200, 304, 302.5, '302'])('refuses status %p', async (status) => {
    const result = await run(`try { redirect('/a', ${JSON.stringify(status)}) } catch (e) { console.log(e.name) }`);
    expect(result.action).toBe('render');
    expect(['RangeError', 'TypeError']).toContain(result.logs[0].message);
  });
});

describe('response', () => {
  it('sets the status and headers by chaining, with lower-case names, and still lets the page render', async () => {
    const result = await run('response.status(404).setHeader("X-Reason", "gone").setHeader("Cache-Control", "no-store")');
    expect(result).toMatchObject({ action: 'render', status: 404, headers: { 'x-reason': 'gone', 'cache-control': 'no-store' } });
  });

  it('sends a string body', async () => {
    const result = await run('response.status(201).send("created")');
    expect(result).toMatchObject({ action: 'send', status: 201, body: 'created' });
  });

  it('sends JSON and adds a content-type unless one was set', async () => {
    await expect(run('response.json({ ok: true, list: [1] })')).resolves.toMatchObject({
      action: 'send',
      body: '{"ok":true,"list":[1]}',
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    await expect(run('response.setHeader("Content-Type", "application/vnd.api+json").json([])')).resolves.toMatchObject({
      headers: { 'content-type': 'application/vnd.api+json' },
    });
  });

  it.each([99, 600, 200.5, 'x'])('refuses status %p', async (code) => {
    const result = await run(`try { response.status(${JSON.stringify(code)}) } catch (e) { console.log(e.name) }`);
    expect(result.status).toBeNull();
    expect(['RangeError', 'TypeError']).toContain(result.logs[0].message);
  });

  it.each([
    ['Set-Cookie', 'a=1'],
    ['Content-Length', '1'],
    ['Transfer-Encoding', 'chunked'],
    ['Connection', 'close'],
    ['Access-Control-Allow-Origin', '*'],
    ['X-Split', 'a\\r\\nInjected: 1'],
    ['X-Line', 'a\\nb'],
    ['X-Nul', 'a\\u0000b'],
  ])('refuses the header %s: %s with a TypeError', async (name, value) => {
    const result = await run(`try { response.setHeader('${name}', '${value}') } catch (e) { console.log(e.name) }`);
    expect(result.headers).toEqual({});
    expect(result.logs).toEqual([{ level: 'log', message: 'TypeError' }]);
  });
});

describe('console', () => {
  it('captures every level as Node’s console would format it, objects as JSON', async () => {
    const result = await run(
      `console.log('a', 1, { b: [1, 'x'] }, null, undefined, true);
       console.info('%s has %d items', 'cart', 3);
       console.warn(new Error('bad'));
       const c = { n: 1 }; c.self = c; console.debug(c);
       console.error(5n, [1, undefined], -0);`,
    );
    expect(result.logs).toEqual([
      { level: 'log', message: 'a 1 {"b":[1,"x"]} null undefined true' },
      { level: 'info', message: 'cart has 3 items' },
      { level: 'warn', message: expect.stringMatching(/^Error: bad/) },
      { level: 'debug', message: '{"n":1,"self":"[Circular]"}' },
      { level: 'error', message: '5n [1,null] -0' },
    ]);
  });

  it('prints nothing to the host’s own stdout or stderr', async () => {
    const writes = [];
    const spies = ['stdout', 'stderr'].map((stream) =>
      jest.spyOn(process[stream], 'write').mockImplementation((chunk) => writes.push(chunk)),
    );
    try {
      await run('console.log("quiet"); console.error("quiet")');
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
    expect(writes.join('')).not.toContain('quiet');
  });
});

describe('redirect, response.send and response.json end the script at once', () => {
  const enders = [
    ['redirect', 'redirect("/done")', { action: 'redirect', location: '/done' }],
    ['response.send', 'response.send("done")', { action: 'send', body: 'done' }],
    ['response.json', 'response.json("done")', { action: 'send', body: '"done"' }],
  ];

  describe.each(enders)('%s', (_, end, expected) => {
    it('runs no later statement', async () => {
      const result = await run(`${end}; setVariable('after', true); console.log('after');`);
      expect(result).toMatchObject({ ...expected, variables: {}, logs: [] });
    });

    it('cannot be stopped by the script’s own try/catch/finally, even from a nested call', async () => {
      const result = await run(
        `function inner() { try { ${end}; } finally { console.log('inner finally'); setVariable('innerFinally', 1); } }
         try { inner(); } catch (e) { console.log('caught', e); setVariable('caught', 1); } finally { console.log('finally'); }
         console.log('after'); setVariable('after', 1);`,
      );
      expect(result).toMatchObject({ ...expected, variables: {}, logs: [], cookies: [] });
    });

    it('ends the script from inside a promise job, and no later job runs', async () => {
      const result = await run(
        `(async () => { await null; try { ${end}; } catch (e) { console.log('caught') } setVariable('after', 1); })();
         Promise.resolve().then(() => Promise.resolve()).then(() => { console.log('later job'); setVariable('later', 1); });
         setVariable('before', 1);`,
      );
      expect(result).toMatchObject({ ...expected, variables: { before: 1 }, logs: [] });
    });

    it('ends the script when called from a toJSON that a host call is copying', async () => {
      const result = await run(
        `try { setVariable('v', { toJSON() { ${end}; } }); } catch (e) { console.log('caught'); }
         setVariable('after', 1);`,
      );
      expect(result).toMatchObject({ ...expected, variables: {}, logs: [] });
    });
  });

  it('keeps what the script did before it ended', async () => {
    const result = await run(
      `session.set('seen', true); cookie.set('c', 'v'); setVariable('x', 1); console.log('before'); redirect('/next', 303);`,
    );
    expect(result).toMatchObject({
      action: 'redirect',
      status: 303,
      session: { seen: true },
      sessionChanged: true,
      variables: { x: 1 },
      cookies: [{ name: 'c', value: 'v' }],
      logs: [{ level: 'log', message: 'before' }],
    });
  });
});

describe('async scripts', () => {
  it('run their promise jobs to completion before the result is handed back', async () => {
    const result = await run(`(async () => { for (let i = 0; i < 3; i++) await null; setVariable('done', true); })()`);
    expect(result.variables).toEqual({ done: true });
  });
});

describe('http', () => {
  it('is undefined while no proxy config is given', async () => {
    await expect(printed('console.log(typeof http)')).resolves.toEqual(['undefined']);
  });
});

'use strict';

// Nothing of one execution is visible to another, and nothing of the host is reachable from a
// script.
const { run } = require('./support/scripts');

/** What a script prints, one message per entry. */
async function printed(source, context) {
  const { logs } = await run(source, context);
  return logs.map((entry) => entry.message);
}

// ECMAScript's own global properties, as of ES2025 plus explicit resource management (stage 4).
// prettier-ignore
const STANDARD_GLOBALS = [
  'AggregateError', 'Array', 'ArrayBuffer', 'AsyncDisposableStack', 'Atomics', 'BigInt', 'BigInt64Array',
  'BigUint64Array', 'Boolean', 'DataView', 'Date', 'DisposableStack', 'Error', 'EvalError', 'FinalizationRegistry',
  'Float16Array', 'Float32Array', 'Float64Array', 'Function', 'Infinity', 'Int16Array', 'Int32Array', 'Int8Array',
  'Iterator', 'JSON', 'Map', 'Math', 'NaN', 'Number', 'Object', 'Promise', 'Proxy', 'RangeError', 'ReferenceError',
  'Reflect', 'RegExp', 'Set', 'SharedArrayBuffer', 'String', 'SuppressedError', 'Symbol', 'SyntaxError', 'TypeError',
  'URIError', 'Uint16Array', 'Uint32Array', 'Uint8Array', 'Uint8ClampedArray', 'WeakMap', 'WeakRef', 'WeakSet',
  'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'eval', 'globalThis', 'isFinite',
  'isNaN', 'parseFloat', 'parseInt', 'undefined', 'unescape',
];
// QuickJS-ng adds these to every context; neither reaches outside the sandbox.
const QUICKJS_GLOBALS = ['InternalError', 'queueMicrotask'];
// The host globals the README documents.
const HOST_GLOBALS = ['console', 'cookie', 'getVariable', 'redirect', 'request', 'response', 'session', 'setVariable'];

describe('the global object', () => {
  it('holds exactly the standard built-ins and the documented globals', async () => {
    const [names] = await printed('console.log(JSON.stringify(Object.getOwnPropertyNames(globalThis)))');
    expect(JSON.parse(names).sort()).toEqual([...STANDARD_GLOBALS, ...QUICKJS_GLOBALS, ...HOST_GLOBALS].sort());
  });

  it.each([
    'require',
    'module',
    'exports',
    '__dirname',
    '__filename',
    'process',
    'global',
    'Buffer',
    'setTimeout',
    'setInterval',
    'setImmediate',
    'clearTimeout',
    'fetch',
    'XMLHttpRequest',
    'WebSocket',
    'performance',
    'navigator',
    'structuredClone',
    'WebAssembly',
    'std',
    'os',
    'print',
    'scriptArgs',
    'gc',
    'Deno',
    'Bun',
    'http',
  ])('has no %s', async (name) => {
    await expect(printed(`console.log(typeof ${name})`)).resolves.toEqual(['undefined']);
  });

  it('offers no dynamic import', async () => {
    const [seen] = await printed("import('fs').then(() => console.log('loaded'), (e) => console.log('refused', e.name));");
    expect(seen).toMatch(/^refused /);
  });

  it('gives a Function constructor and eval that reach only the sandbox’s own global', async () => {
    const logs = await printed(
      `console.log(Function('return this')() === globalThis, eval('typeof process'), (0, eval)('this') === globalThis);`,
    );
    expect(logs).toEqual(['true undefined true']);
  });

  it('makes the host globals frozen objects whose functions are the sandbox’s own', async () => {
    const logs = await printed(
      `'use strict';
       console.log(JSON.stringify(Object.getOwnPropertyNames(session)), JSON.stringify(Object.getOwnPropertyNames(console)));
       console.log([session, cookie, response, console].every(Object.isFrozen));
       console.log([session.get, setVariable, redirect, response.send, console.log].every((f) => f instanceof Function && Object.getPrototypeOf(f) === Function.prototype));
       try { session.leak = 1; } catch (e) { console.log(e.name); }`,
    );
    expect(logs).toEqual(['["get","set","delete"] ["log","info","warn","error","debug"]', 'true', 'true', 'TypeError']);
  });

  it('lets a script shadow a host global with its own declaration', async () => {
    const result = await run('const response = 1; let session = "mine"; setVariable("shadowed", [response, session]);');
    expect(result.variables).toEqual({ shadowed: [1, 'mine'] });
  });
});

describe('one execution and the next', () => {
  it('share no globals', async () => {
    await run('globalThis.leak = "secret"; var alsoLeaked = 1; function leakedFunction() {}');
    await expect(printed('console.log(typeof leak, typeof alsoLeaked, typeof leakedFunction)')).resolves.toEqual([
      'undefined undefined undefined',
    ]);
  });

  it('share no prototypes or built-ins', async () => {
    await run(
      `Object.prototype.polluted = 'yes';
       Array.prototype.push = function () { return 'hijacked'; };
       String.prototype.indexOf = () => 42;
       JSON.stringify = () => '"hijacked"';
       Object.freeze = (o) => o;
       Math.random = () => 4;`,
    );
    const logs = await printed(
      `console.log(({}).polluted, [].push(1), 'abc'.indexOf('c'), JSON.stringify({ a: 1 }), Object.isFrozen(Object.freeze({})), Math.random() < 1);`,
    );
    expect(logs).toEqual(['undefined 1 2 {"a":1} true true']);
  });

  it('share no session, variables or cookies', async () => {
    await run('session.set("user", "alice"); setVariable("role", "admin"); cookie.set("sid", "1");', { session: { user: 'alice' } });
    const result = await run('console.log(session.get("user"), getVariable("role"))', { session: { user: 'bob' } });
    expect(result).toMatchObject({ session: { user: 'bob' }, variables: {}, cookies: [], logs: [{ message: 'bob null' }] });
  });

  it('start the same script afresh each time, though its compiled form is reused', async () => {
    const script = `const counter = { n: 0 }; counter.n++; globalThis.runs = (globalThis.runs || 0) + 1;
      const list = [1, 2]; list.push(3); setVariable('state', [counter.n, globalThis.runs, list.length]);`;
    const results = await Promise.all([run(script), run(script), run(script)]);
    expect(results.map((r) => r.variables.state)).toEqual([
      [1, 1, 3],
      [1, 1, 3],
      [1, 1, 3],
    ]);
  });

  it('share nothing while they run at the same time', async () => {
    const script = `
      globalThis.mine = session.get('user');
      const until = Date.now() + 50;
      while (Date.now() < until) {}
      setVariable('seen', [globalThis.mine, session.get('user'), request.query.n]);`;
    const users = Array.from({ length: 8 }, (_, n) => `user${n}`);
    const results = await Promise.all(users.map((user, n) => run(script, { session: { user }, request: { query: { n } } })));
    expect(results.map((r) => r.variables.seen)).toEqual(users.map((user, n) => [user, user, n]));
  });
});

describe('a script that replaces built-ins', () => {
  it('still has its values copied and printed faithfully by the host', async () => {
    const result = await run(
      `JSON.stringify = () => '"forged"';
       JSON.parse = () => ({ forged: true });
       Object.freeze = (o) => o;
       Array.prototype.push = () => 0;
       String.prototype.slice = () => 'forged';
       Function.prototype.call = () => 'forged';
       Reflect.apply = () => 'forged';
       setVariable('value', { a: [1, 2] });
       session.set('value', { b: 'c' });
       console.log('printed', { d: 1 });
       console.log(JSON.stringify === Object, getVariable('value').a.length);`,
    );
    expect(result).toMatchObject({
      variables: { value: { a: [1, 2] } },
      session: { value: { b: 'c' } },
      logs: [{ message: 'printed {"d":1}' }, { message: 'false 2' }],
    });
  });

  it('is never handed the host’s own functions through them', async () => {
    const logs = await printed(
      `const handed = [];
       const apply = Reflect.apply, call = Function.prototype.call;
       Reflect.apply = function (f, self, args) { handed.push(f); return apply(f, self, args); };
       Function.prototype.call = function (...args) { handed.push(this); return apply(call, this, args); };
       const hay = 'ab'.repeat(10000), needle = 'x' + 'y'.repeat(10); // long enough for the guarded path
       hay.indexOf(needle); hay.lastIndexOf(needle); hay.includes(needle); hay.split(needle); hay.replace(needle, '');
       'abc'.indexOf('c'); 'abc'.split('b'); 'abc'.replaceAll('b', 'x');
       console.log('%s and %d', 'x', 1);
       Reflect.apply = apply; Function.prototype.call = call;
       console.log(handed.length);`,
    );
    expect(logs).toEqual(['x and 1', '0']);
  });

  it('cannot unfreeze the request', async () => {
    const logs = await printed(
      `'use strict';
       Object.freeze = (o) => o;
       try { request.query.token = 'forged'; } catch (e) { console.log(e.name); }
       console.log(request.query.token);`,
      { request: { query: { token: 'real' } } },
    );
    expect(logs).toEqual(['TypeError', 'real']);
  });
});

'use strict';

// How executions fail: every code with its position, logs and a plain message,
// and bad arguments reported the way Node's own APIs report them.
const { types } = require('node:util');
const { runBackendScript } = require('..');
const { SMALL, run, failureOf } = require('./support/scripts');

describe('a failed execution', () => {
  it('rejects with an Error carrying code, line, column and logs', async () => {
    const error = await failureOf(run('console.log("one");\nconsole.warn("two");\n  undefinedFunction();'));
    // Jest runs specs in their own realm, so check the kind of error rather than `instanceof`.
    expect(types.isNativeError(error)).toBe(true);
    expect(error.name).toBe('Error');
    expect(error).toMatchObject({
      code: 'ERR_SCRIPT_EXCEPTION',
      line: 3,
      column: 3,
      logs: [
        { level: 'log', message: 'one' },
        { level: 'warn', message: 'two' },
      ],
    });
    expect(error.message).toBe('script threw an uncaught ReferenceError (line 3, column 3): undefinedFunction is not defined');
  });
});

describe('ERR_SCRIPT_SYNTAX', () => {
  it('is a script that does not parse, with the position in the script’s own numbering', async () => {
    const error = await failureOf(run('const a = 1;\nconst b = 2;\nconst c = a +* b;'));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_SYNTAX', line: 3, column: 14, logs: [] });
    expect(error.message).toMatch(/^script has a syntax error \(line 3, column 14\): /);
  });

  it('runs nothing of a script that does not parse', async () => {
    const error = await failureOf(run('console.log("ran");\n}'));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_SYNTAX', line: 2, logs: [] });
  });

  it.each([['a NUL byte in the source', 'const a = 1;\0']])('refuses %s', async (_, source) => {
    await expect(run(source)).rejects.toMatchObject({ code: 'ERR_SCRIPT_SYNTAX' });
  });
});

describe('ERR_SCRIPT_EXCEPTION', () => {
  it('is an error the script threw at run time, SyntaxErrors from JSON.parse and eval included', async () => {
    for (const [source, name] of [
      ['JSON.parse("{")', 'SyntaxError'],
      ['eval("1 +")', 'SyntaxError'],
      ['null.x', 'TypeError'],
      ['class MyError extends Error { constructor() { super("mine"); this.name = "MyError"; } }\nthrow new MyError();', 'MyError'],
    ]) {
      const error = await failureOf(run(source));
      expect(error.code).toBe('ERR_SCRIPT_EXCEPTION');
      expect(error.message).toMatch(new RegExp(`^script threw an uncaught ${name} \\(line \\d+, column \\d+\\): `));
    }
  });

  it('gives the position of the frame in the script where the error was thrown', async () => {
    const error = await failureOf(run('function fail() {\n  throw new RangeError("deep");\n}\n\nfail();'));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_EXCEPTION', line: 2 });
    // Within `throw new RangeError("deep")`, which spans columns 3 to 31.
    expect(error.column).toBeGreaterThanOrEqual(3);
    expect(error.column).toBeLessThanOrEqual(31);
  });

  it('gives the same position when the same script fails again', async () => {
    const source = 'const a = 1;\n\n  a.b.c;';
    const errors = [await failureOf(run(source)), await failureOf(run(source))];
    expect(errors.map(({ line, column, message }) => ({ line, column, message }))).toEqual([
      { line: 3, column: 3, message: expect.stringMatching(/^script threw an uncaught TypeError \(line 3, column 3\)/) },
      { line: 3, column: 3, message: errors[0].message },
    ]);
  });

  it('reports a thrown value that is not an Error in plain words, without a position', async () => {
    const error = await failureOf(run('throw "plain string"'));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_EXCEPTION', line: null, column: null });
    expect(error.message).toBe('script threw an uncaught Error: plain string');
  });

  it('includes a promise rejection nobody handled', async () => {
    const error = await failureOf(run('console.log("before");\nPromise.reject(new TypeError("nobody caught me"));'));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_EXCEPTION', line: 2, logs: [{ message: 'before' }] });
    expect(error.message).toMatch(/TypeError.*nobody caught me/);
  });

  it('does not include a rejection the script handled later in the same run', async () => {
    const result = await run(
      'const p = Promise.reject(new Error("late")); Promise.resolve().then(() => p.catch(() => setVariable("handled", true)));',
    );
    expect(result.variables).toEqual({ handled: true });
  });

  it('includes a stack overflow', async () => {
    const error = await failureOf(run('function down() { return down() + 1; }\ndown();', null, { maxStackBytes: 64 << 10 }));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_EXCEPTION', line: 1 });
    expect(error.message).toMatch(/RangeError.*Maximum call stack size exceeded/);
  });
});

describe('ERR_SCRIPT_TIMEOUT', () => {
  it('is a script that ran out of CPU time, with its logs and the limit in words', async () => {
    const error = await failureOf(run('console.log("starting"); for (;;) {}', null, { cpuTimeMs: 100 }));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_TIMEOUT', line: null, column: null, logs: [{ message: 'starting' }] });
    expect(error.message).toBe('script exceeded its CPU time limit of 100 ms');
  });

  it('is a script that ran out of wall-clock time', async () => {
    const error = await failureOf(run('for (;;) {}', null, { cpuTimeMs: 10000, wallTimeMs: 150 }));
    expect(error.code).toBe('ERR_SCRIPT_TIMEOUT');
    expect(error.message).toBe('script exceeded its wall-clock time limit of 150 ms');
  });
});

describe('ERR_SCRIPT_MEMORY', () => {
  it('is a script that hit its memory limit, with the limit in words', async () => {
    const error = await failureOf(
      run('console.log("filling"); const a = []; for (;;) a.push({ i: a.length });', null, { ...SMALL, cpuTimeMs: 2000 }),
    );
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_MEMORY', logs: [{ message: 'filling' }] });
    expect(error.message).toBe(`script exceeded its memory limit of ${8 << 20} bytes`);
  });
});

describe('ERR_SCRIPT_OUTPUT_LIMIT', () => {
  it('is a result larger than maxOutputBytes, with the limit in words', async () => {
    const error = await failureOf(run('for (let i = 0; i < 20; i++) console.log("x".repeat(100));', null, { maxOutputBytes: 1000 }));
    expect(error.code).toBe('ERR_SCRIPT_OUTPUT_LIMIT');
    expect(error.message).toBe('script output (variables, session, body, headers, cookies and logs) exceeded the limit of 1000 bytes');
  });

  it('counts the variables and session the host passed in', async () => {
    const error = await failureOf(run('', { variables: { big: 'x'.repeat(2000) } }, { maxOutputBytes: 1000 }));
    expect(error.code).toBe('ERR_SCRIPT_OUTPUT_LIMIT');
  });
});

describe('bad arguments', () => {
  // runBackendScript reports them through its promise, as fs.promises does.
  const badArgument = (args) => runBackendScript(...args);

  it.each([
    ['a missing source', []],
    ['a source that is a number', [42]],
    ['a source that is a function', [() => 'x']],
    ['a context that is a string', ['', 'request']],
    ['a context that is an array', ['', []]],
    ['a proxy config that is a number', ['', null, 8080]],
    ['options that are a boolean', ['', null, null, true]],
    ['a request method that is a number', ['', { request: { method: 1 } }]],
    ['a query that is a string', ['', { request: { query: 'a=1' } }]],
    ['a session that is an array', ['', { session: [1] }]],
    ['a cpuTimeMs that is a string', ['', null, null, { cpuTimeMs: '100' }]],
  ])('refuses %s with a TypeError coded ERR_INVALID_ARG_TYPE', async (_, args) => {
    const error = await failureOf(badArgument(args));
    expect(types.isNativeError(error) && error.name).toBe('TypeError');
    expect(error.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(error.message).toMatch(/^The "(source|context|proxyConfig|options)(\.[\w.]+)?" argument must be /);
  });

  it.each([
    ['a negative cpuTimeMs', { cpuTimeMs: -1 }, 'options.cpuTimeMs'],
    ['a zero wallTimeMs', { wallTimeMs: 0 }, 'options.wallTimeMs'],
    ['a fractional maxStackBytes', { maxStackBytes: 1024.5 }, 'options.maxStackBytes'],
    ['a memory limit too small to start a runtime', { memoryLimitBytes: 1024 }, 'options.memoryLimitBytes'],
    ['a maxOutputBytes past 1 GiB', { maxOutputBytes: 2 ** 31 }, 'options.maxOutputBytes'],
  ])('refuses %s with a RangeError coded ERR_INVALID_ARG_VALUE', async (_, options, name) => {
    const error = await failureOf(run('', null, options));
    expect(types.isNativeError(error) && error.name).toBe('RangeError');
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(error.message).toMatch(
      new RegExp(`^The "${name.replace('.', '\\.')}" argument must be an integer from \\d+ to \\d+\\. Received `),
    );
  });

  it.each([
    ['an unknown option', ['', null, null, { cpuTimeMS: 5 }], /^The "options" argument .*"cpuTimeMS"/],
    ['an unknown context field', ['', { user: 1 }], /^The "context" argument .*"user"/],
    ['an unknown request field', ['', { request: { foo: 1 } }], /^The "context\.request" argument .*"foo"/],
    [
      'a context with a cycle',
      [
        '',
        (() => {
          const s = {};
          s.s = s;
          return { session: s };
        })(),
      ],
      /^The "context" argument cannot be copied/,
    ],
    ['a context with a BigInt', ['', { variables: { n: 1n } }], /^The "context" argument cannot be copied/],
  ])('refuses %s with a TypeError coded ERR_INVALID_ARG_VALUE that names the field', async (_, args, message) => {
    const error = await failureOf(badArgument(args));
    expect(types.isNativeError(error) && error.name).toBe('TypeError');
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(error.message).toMatch(message);
  });

  // JSON.stringify turns NaN and ±Infinity into null; a null limit is refused rather than read as "not given".
  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
  ])('refuses a cpuTimeMs of %s with a RangeError instead of using the default', async (_, cpuTimeMs) => {
    const error = await failureOf(run('', null, { cpuTimeMs }));
    expect(types.isNativeError(error) && error.name).toBe('RangeError');
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
  });

  it.each([
    ['a string limit', ['', null, null, { cpuTimeMs: '100' }]],
    ['an array session', ['', { session: [1] }]],
    ['a Date as the context', ['', new Date(0)]],
  ])('names the expected type in JavaScript’s words for %s', async (_, args) => {
    const error = await failureOf(badArgument(args));
    expect(error.message).not.toMatch(/\b(f64|map|sequence|struct|integer `)/);
    expect(error.message).toMatch(/must be (of type (number|object)|an object)/);
  });
});

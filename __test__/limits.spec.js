'use strict';

// Every limit of an execution, with hostile scripts.
// One execution runs at a time in this file, so a slot a hostile script failed to give back would
// make the next test hang rather than pass.
const { execFile } = require('node:child_process');
const path = require('node:path');
const { configure, executorStats } = require('..');
const { SMALL, run, failureOf, expectHealthy } = require('./support/scripts');

let saved;
beforeAll(() => {
  saved = configure();
  configure({ maxConcurrency: 1 });
});
afterAll(() => configure(saved));

// After each hostile script the next execution works normally, and nothing is left holding a slot.
afterEach(async () => {
  await expectHealthy();
  expect(executorStats()).toMatchObject({ running: 0, queued: 0, inFlight: 0 });
});

/** A 2 MiB haystack and a 100 KiB needle it does not contain: naive search costs 2·10¹¹ steps. */
const HAYSTACK = `const hay = 'a'.repeat(2 << 20); const needle = 'a'.repeat(100 << 10) + 'b';`;

describe('CPU time', () => {
  const cpuTimeMs = 200;
  const answerWithinMs = 1.5 * cpuTimeMs + 100;

  it.each([
    ['a plain endless loop', 'for (;;) {}'],
    ['a loop that catches everything it can', 'for (;;) { try { for (;;) {} } catch (e) {} finally { continue; } }'],
    ['an endless chain of promise jobs', '(async () => { for (;;) await null; })()'],
    ['a loop over indexOf on a multi-megabyte string with a long needle', `${HAYSTACK} for (;;) hay.indexOf(needle);`],
    ['a loop over lastIndexOf with a long needle', `${HAYSTACK} for (;;) hay.lastIndexOf('b' + needle.slice(1));`],
    ['a loop over includes with a long needle', `${HAYSTACK} for (;;) hay.includes(needle);`],
    ['a loop over split with a long separator', `${HAYSTACK} for (;;) hay.split(needle);`],
    [
      'a loop over replace and replaceAll with a long pattern',
      `${HAYSTACK} for (;;) { hay.replace(needle, ''); hay.replaceAll(needle, ''); }`,
    ],
    ['a loop over Array.prototype.indexOf on a large array', "const list = new Array(300000).fill('x'); for (;;) list.indexOf('y');"],
    ['catastrophic regular-expression backtracking', "/^(a+)+$/.test('a'.repeat(40) + 'b');"],
  ])('answers %s with ERR_SCRIPT_TIMEOUT within 1.5 × cpuTimeMs + 100 ms of its start', async (_, source) => {
    // Timed from the script's first statement: on a loaded machine, starting a thread and preparing
    // a sandbox before the script runs can take a while, and is not the script's doing.
    const error = await failureOf(run(`console.log(String(Date.now())); ${source}`, null, { ...SMALL, cpuTimeMs }));
    const answeredAt = Date.now();
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_TIMEOUT', message: `script exceeded its CPU time limit of ${cpuTimeMs} ms` });
    expect(answeredAt - Number(error.logs[0].message)).toBeLessThan(answerWithinMs);
  });

  it('lets a script finish that stays within its budget, and reports the CPU it used', async () => {
    const result = await run('let n = 0; for (let i = 0; i < 1e5; i++) n += i; setVariable("n", n);', null, { cpuTimeMs: 300 });
    expect(result.variables).toEqual({ n: 4999950000 });
    expect(result.stats.cpuMs).toBeGreaterThan(0);
    expect(result.stats.cpuMs).toBeLessThan(300);
  });

  it('still finds what the guarded string searches look for', async () => {
    // Searches with long needles take another path inside the sandbox; they must give the same answers.
    const searches = `
      let seed = 7;
      const letter = () => {
        seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
        return String.fromCharCode(97 + ((seed >>> 0) % 26));
      };
      let hay = '';
      for (let i = 0; i < 100000; i++) hay += letter();
      const needle = hay.slice(70000, 72000);
      const answers = [
        hay.indexOf(needle), hay.indexOf(needle, 70001), hay.indexOf(needle, -5), hay.lastIndexOf(needle),
        hay.lastIndexOf(needle, 69999), hay.includes(needle), hay.includes(needle, 70001),
        hay.split(needle).map((part) => part.length), hay.split(needle, 1).length,
        hay.replace(needle, '<$&>').length, hay.replaceAll(needle, '-').length, (hay + needle).replaceAll(needle, '-').length,
      ];`;
    const result = await run(`${searches} setVariable('answers', answers);`);
    const expected = new Function(`${searches} return answers;`)();
    expect(result.variables.answers).toEqual(expected);
    expect(expected[0]).toBe(70000);
  });

  it('ends a script with ERR_SCRIPT_TIMEOUT when its wall-clock time runs out', async () => {
    const error = await failureOf(run('console.log(String(Date.now())); for (;;) {}', null, { cpuTimeMs: 60000, wallTimeMs: 150 }));
    const answeredAt = Date.now();
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_TIMEOUT', message: 'script exceeded its wall-clock time limit of 150 ms' });
    expect(answeredAt - Number(error.logs[0].message)).toBeLessThan(1.5 * 150 + 100);
  });

  it('lets a runaway that was answered for finish later without harming the process', async () => {
    // The thread the watchdog gave up on frees its QuickJS runtime when the script finally stops;
    // QuickJS's own leak checks run then, in a process of its own here so that an abort shows.
    const child = `
      const { runBackendScript, executorStats } = require(${JSON.stringify(path.join(__dirname, '..'))});
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const runaways = [
        "const list = new Array(20000).fill('x'); for (;;) list.indexOf('y');",
        "const list = new Array(20000).fill('x'); globalThis.kept = [new Promise(() => {}), new WeakRef({})]; Promise.reject(1); for (;;) { try { list.indexOf('y'); } catch (e) {} }",
      ];
      (async () => {
        const codes = await Promise.all(runaways.map((s) => runBackendScript(s, null, null, { cpuTimeMs: 100 }).catch((e) => e.code)));
        const start = Date.now();
        while (executorStats().abandoned > 0 && Date.now() - start < 20000) await sleep(50);
        const after = await runBackendScript('setVariable("ok", 1)');
        console.log(JSON.stringify({ codes, abandoned: executorStats().abandoned, variables: after.variables }));
      })();`;
    const out = await new Promise((resolve, reject) =>
      execFile(process.execPath, ['-e', child], { timeout: 25000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    expect(JSON.parse(out)).toEqual({ codes: ['ERR_SCRIPT_TIMEOUT', 'ERR_SCRIPT_TIMEOUT'], abandoned: 0, variables: { ok: 1 } });
  });

  it('stops a runaway of heavy builtin calls promptly once the caller was answered', async () => {
    // QuickJS polls its interrupt handler only every 10,000 ticks; a loop of costly builtin calls
    // once ran on for tens of seconds after its answer. Measured in a process of its own.
    const child = `
      const { runBackendScript, executorStats } = require(${JSON.stringify(path.join(__dirname, '..'))});
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      runBackendScript("const list = new Array(300000).fill('x'); for (;;) list.indexOf('y');", null, null,
        { cpuTimeMs: 100, memoryLimitBytes: ${8 << 20} }).catch(async (e) => {
        const before = process.cpuUsage();
        const start = Date.now();
        while (executorStats().abandoned > 0 && Date.now() - start < 1000) await sleep(20);
        const abandoned = executorStats().abandoned;
        await sleep(500);
        const used = process.cpuUsage(before);
        console.log(JSON.stringify({ code: e.code, abandoned, cpuMs: (used.user + used.system) / 1000 }));
      });`;
    const out = await new Promise((resolve, reject) =>
      execFile(process.execPath, ['-e', child], { timeout: 20000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    const { code, abandoned, cpuMs } = JSON.parse(out);
    expect({ code, abandoned }).toEqual({ code: 'ERR_SCRIPT_TIMEOUT', abandoned: 0 });
    expect(cpuMs).toBeLessThan(300);
  });
});

describe('memory', () => {
  it.each([
    ['an array that grows without end', 'const a = []; for (;;) a.push({ i: a.length });'],
    ['a string of a quarter GiB', "'x'.repeat(2 ** 28);"],
    ['a 64 MiB ArrayBuffer', 'new ArrayBuffer(64 << 20);'],
    ['a string that doubles until it no longer fits', "let s = 'x'; for (;;) { s += s; s.indexOf('y'); }"],
    ['an object nested a million deep', 'let o = {}; for (let i = 0; i < 1e6; i++) o = { o };'],
    ['a chain of a million proxies', 'let p = {}; for (let i = 0; i < 1e6; i++) p = new Proxy(p, {});'],
    ['a join of a million holes with a long separator', "new Array(1e6).join('x'.repeat(16));"],
    ['a value larger than the heap handed to session.set', "session.set('big', 'x'.repeat(5 << 20));"],
  ])('ends %s with ERR_SCRIPT_MEMORY', async (_, source) => {
    // CPU to spare: what ends these must be the heap, on a slow or busy machine too.
    const error = await failureOf(run(source, null, { ...SMALL, cpuTimeMs: 2000 }));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_MEMORY', message: `script exceeded its memory limit of ${8 << 20} bytes` });
  });

  // A failed allocation is a catchable error in JavaScript, like a stack overflow: a script that
  // catches it and lets go of what it held may go on (README, Limits).
  it('lets a script that catches its own out-of-memory error and lets go of the memory go on', async () => {
    const value = await run("let a = []; try { for (;;) a.push({}); } catch (e) {} a = null; setVariable('survived', true);", null, SMALL);
    expect(value.variables.survived).toBe(true);
  });

  // QuickJS's regexp engine reports a failed allocation as
  // `InternalError: out of memory in regexp execution`.
  it('ends a regexp whose backtracking outgrows the heap with ERR_SCRIPT_MEMORY', async () => {
    const error = await failureOf(run("'ab'.repeat(1 << 18).replace(/(a|b)*c/, '');", null, SMALL));
    expect(error.code).toBe('ERR_SCRIPT_MEMORY');
  });
});

describe('giant strings', () => {
  it('ends a string past QuickJS’s maximum length with an error the script can catch', async () => {
    // Concatenation builds a rope, so the string outgrows QuickJS's length limit before the heap.
    const result = await run("let s = 'x'; try { for (;;) s += s; } catch (e) { console.log(e.name, e.message); }", null, SMALL);
    expect(result.logs).toEqual([{ level: 'log', message: 'InternalError string too long' }]);
  });

  it('prints at most 64 KiB of a giant string', async () => {
    const result = await run("console.log('y'.repeat(4 << 20));", null, SMALL);
    expect(result.logs[0].message).toBe('y'.repeat(64 * 1024));
    expect(result.logs[1].message).toMatch(/^log truncated/);
  });
});

describe('stack', () => {
  const depthReached = (maxStackBytes) =>
    run(
      'let depth = 0; function down() { depth++; down(); } try { down(); } catch (e) { setVariable("e", e.name); } setVariable("depth", depth);',
      null,
      {
        maxStackBytes,
      },
    ).then((r) => r.variables);

  it('ends deep recursion with a RangeError the script can catch, deeper with a larger maxStackBytes', async () => {
    const small = await depthReached(32 << 10);
    const large = await depthReached(1 << 20);
    expect(small.e).toBe('RangeError');
    expect(large.e).toBe('RangeError');
    expect(large.depth).toBeGreaterThan(4 * small.depth);
  });

  it.each([
    ['recursion at the largest maxStackBytes', 'function f(n) { return n === 0 ? 0 : 1 + f(n - 1); } f(1e7);', { maxStackBytes: 8 << 20 }],
    ['JSON.parse of arrays nested a million deep', "JSON.parse('['.repeat(1e6));", SMALL],
    ['a regular expression nested a hundred thousand deep', "new RegExp('(?:'.repeat(1e5) + 'a' + ')'.repeat(1e5));", SMALL],
  ])('ends %s with ERR_SCRIPT_EXCEPTION, never a crash', async (_, source, options) => {
    const error = await failureOf(run(source, null, options));
    expect(error.code).toBe('ERR_SCRIPT_EXCEPTION');
  });
});

describe('output limit', () => {
  const limit = { maxOutputBytes: 1000 };

  it('ends a script whose logs pass maxOutputBytes with ERR_SCRIPT_OUTPUT_LIMIT', async () => {
    await expect(run("for (let i = 0; i < 20; i++) console.log('x'.repeat(100));", null, limit)).rejects.toMatchObject({
      code: 'ERR_SCRIPT_OUTPUT_LIMIT',
    });
  });

  it('ends a script with ERR_SCRIPT_OUTPUT_LIMIT when a promise job passes the limit', async () => {
    await expect(run("Promise.resolve().then(() => setVariable('v', 'x'.repeat(2000)));", null, limit)).rejects.toMatchObject({
      code: 'ERR_SCRIPT_OUTPUT_LIMIT',
    });
  });

  it('lets a result just under the limit through', async () => {
    await expect(run("setVariable('v', 'x'.repeat(900));", null, limit)).resolves.toMatchObject({ variables: { v: 'x'.repeat(900) } });
  });

  // A host call that passes the limit in the script's own code resolves as if nothing happened:
  // the failure is taken out of the state while the exception is converted, and the run then
  // reads as a script that ended itself.
  it.each([
    ['setVariable', "setVariable('v', 'x'.repeat(2000));"],
    ['session.set', "session.set('v', 'x'.repeat(2000));"],
    ['response.send', "response.send('x'.repeat(2000));"],
    ['response.setHeader', "response.setHeader('x-big', 'x'.repeat(2000));"],
    ['cookie.set', "for (let i = 0; i < 20; i++) cookie.set('c' + i, 'x'.repeat(100));"],
    ['a call inside try/catch', "try { setVariable('v', 'x'.repeat(2000)); } catch (e) {} setVariable('after', 1);"],
  ])('ends a script whose %s passes maxOutputBytes with ERR_SCRIPT_OUTPUT_LIMIT', async (_, source) => {
    await expect(run(source, null, limit)).rejects.toMatchObject({ code: 'ERR_SCRIPT_OUTPUT_LIMIT' });
  });
});

describe('console caps', () => {
  it('keeps 100 entries, then one final entry that says the log was truncated', async () => {
    const result = await run("for (let i = 0; i < 500; i++) console.log('line ' + i); console.error('after');");
    expect(result.logs).toHaveLength(101);
    expect(result.logs[99]).toEqual({ level: 'log', message: 'line 99' });
    expect(result.logs[100]).toEqual({ level: 'warn', message: 'log truncated: a script may write at most 100 entries and 65536 bytes' });
  });

  it('keeps at most 64 KiB of messages, cutting the entry that passes it', async () => {
    const result = await run('for (let i = 0; i < 20; i++) console.log(String(i % 10).repeat(5000));');
    const bytes = result.logs.slice(0, -1).reduce((sum, entry) => sum + Buffer.byteLength(entry.message), 0);
    expect(bytes).toBe(64 * 1024);
    expect(result.logs.at(-2).message).toBe('3'.repeat(64 * 1024 - 13 * 5000));
    expect(result.logs.at(-1).message).toMatch(/^log truncated/);
  });

  it('cuts a message at a character boundary', async () => {
    const result = await run("console.log('é'.repeat(40000));");
    expect(result.logs[0].message).toBe('é'.repeat(32 * 1024));
  });
});

describe('the size of a script or page', () => {
  it('is at most 8 MiB of UTF-8, refused before it is copied', async () => {
    const { runBackendScript, renderPage } = require('..');
    const big = ' '.repeat((8 << 20) + 1);
    for (const call of [() => runBackendScript(big), () => renderPage(big)]) {
      const error = await call().catch((e) => e);
      expect(error).toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
      expect(error.message).toContain(`is ${(8 << 20) + 1} bytes long (UTF-8); at most ${8 << 20} are allowed`);
    }
    const fits = await runBackendScript(`${' '.repeat((8 << 20) - 40)}setVariable('ok', 'é😀')`);
    expect(await runBackendScript(`${'/'.repeat(4 << 20)}\n${'é'.repeat(2 << 20)}`).catch((e) => e.code)).toBe('ERR_INVALID_ARG_VALUE');
    expect(fits.variables).toEqual({ ok: 'é😀' });
  });

  it('reaches the script with a lone surrogate of its text as U+FFFD', async () => {
    const { runBackendScript } = require('..');
    // The source itself holds a lone surrogate (not an escape sequence) inside a string literal.
    const result = await runBackendScript(`setVariable('s', 'a${'\uD800'}b')`);
    expect(result.variables.s).toBe('a\uFFFDb');
  });
});

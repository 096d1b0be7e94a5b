'use strict';

// Host functions (options.functions): the site's own functions as script globals that look
// synchronous, run on the Node thread that started the execution while the script waits.
const { execFile } = require('node:child_process');
const path = require('node:path');
const { threadId, Worker } = require('node:worker_threads');
const { configure, executorStats, renderPage } = require('..');
const { run, failureOf, timed, expectHealthy } = require('./support/scripts');

const ADDON = path.join(__dirname, '..');
const sleep = (ms, value) => new Promise((resolve) => setTimeout(() => resolve(value), ms));

const withFunctions = (source, functions, options = {}) => run(source, null, { functions, ...options });

describe('host functions', () => {
  it('are plain globals whose calls return the awaited value, async or not', async () => {
    const seen = [];
    const result = await withFunctions(
      `const orders = getOrders('newest', 10);
       setVariable('orders', orders);
       setVariable('double', double(21));
       setVariable('nothing', typeof nothing());
       setVariable('date', stamp());
       setVariable('type', typeof getOrders);`,
      {
        getOrders: async (sortBy, limit) => {
          seen.push([sortBy, limit]);
          await sleep(10);
          return [{ id: 7, sortBy, limit }];
        },
        double: (n) => n * 2,
        nothing: () => undefined,
        stamp: () => new Date(Date.UTC(2026, 0, 2)),
      },
    );
    expect(seen).toEqual([['newest', 10]]);
    expect(result.variables).toEqual({
      orders: [{ id: 7, sortBy: 'newest', limit: 10 }],
      double: 42,
      nothing: 'undefined',
      date: '2026-01-02T00:00:00.000Z',
      type: 'function',
    });
  });

  it('copy arguments and values as JSON: nothing of the host or the script crosses', async () => {
    const received = [];
    const result = await withFunctions(
      `const got = inspect({ n: 1, when: new Date(0), skip: undefined, list: [1, undefined] });
       setVariable('got', got);
       setVariable('proto', Object.getPrototypeOf(host()) === Object.prototype);
       setVariable('fn', typeof host().fn);
       inspect(() => 1, Symbol('s'));
       try { inspect(1n); } catch (e) { setVariable('bigint', e.name); }`,
      {
        inspect: (...args) => {
          received.push(args);
          return { same: args[0] };
        },
        host: () => ({ fn: () => process.exit(1), process: { pid: process.pid } }),
      },
    );
    // As JSON.stringify([...arguments]) has them: functions and symbols become null.
    expect(received).toEqual([[{ n: 1, when: '1970-01-01T00:00:00.000Z', list: [1, null] }], [null, null]]);
    expect(result.variables).toMatchObject({ proto: true, fn: 'undefined', bigint: 'TypeError' });
    expect(result.variables.got).toEqual({ same: { n: 1, when: '1970-01-01T00:00:00.000Z', list: [1, null] } });
  });

  it("show a host error's message only when it has expose === true, and never a stack or path", async () => {
    const result = await withFunctions(
      `const out = {};
       for (const f of [secret, exposed, rejects, throwsString, getterThrows]) {
         try { f(); out[f.name] = 'no error'; } catch (e) { out[f.name] = [e.name, e.message, String(e.stack).includes('.js')]; }
       }
       setVariable('out', out);`,
      {
        secret: async () => {
          throw new Error(`connect ECONNREFUSED at ${__filename}: password hunter2`);
        },
        exposed: async () => {
          throw Object.assign(new Error('No such order'), { expose: true, status: 404 });
        },
        rejects: () => Promise.reject(Object.assign(new Error('hidden'), { expose: 'yes' })),
        throwsString: () => {
          throw 'a string';
        },
        getterThrows: () => {
          throw Object.create(null, {
            expose: {
              get() {
                throw new Error('getter');
              },
            },
          });
        },
      },
    );
    expect(result.variables.out).toEqual({
      secret: ['Error', 'host function secret failed', false],
      exposed: ['Error', 'No such order', false],
      rejects: ['Error', 'host function rejects failed', false],
      throwsString: ['Error', 'host function throwsString failed', false],
      getterThrows: ['Error', 'host function getterThrows failed', false],
    });
  });

  it('give the script an Error when a value cannot be copied as JSON', async () => {
    const result = await withFunctions("try { cyclic() } catch (e) { setVariable('m', e.message) }", {
      cyclic: () => {
        const o = {};
        o.self = o;
        return o;
      },
    });
    expect(result.variables.m).toMatch(/^host function cyclic returned a value that cannot be copied into a script: /);
    // What a getter threw while the value was copied is the host's, and never shown.
    const getter = await withFunctions("try { leaky() } catch (e) { setVariable('m', e.message) }", {
      leaky: () => ({
        get x() {
          throw new Error('db password is hunter2');
        },
      }),
    });
    expect(getter.variables.m).toMatch(/^host function leaky returned a value that cannot be copied/);
    expect(getter.variables.m).not.toContain('hunter2');
  });

  it.each([
    ['the script API', { session: () => 1 }],
    ['the script API', { setVariable: () => 1 }],
    ['an ECMAScript global', { JSON: () => 1 }],
    ['an ECMAScript global', { Promise: () => 1 }],
    ['a reserved word', { class: () => 1 }],
    ['a name that is no identifier', { 'get-orders': () => 1 }],
    ['a name that is no identifier', { '1st': () => 1 }],
  ])('refuse a name that would shadow %s, when the call is made', async (_, functions) => {
    const error = await failureOf(withFunctions('1', functions));
    expect(error.name).toBe('TypeError');
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(error.message).toContain(Object.keys(functions)[0]);
  });

  it('refuse functions that are not functions', async () => {
    await expect(withFunctions('1', { getOrders: 'SELECT *' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(withFunctions('1', [() => 1])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });
});

describe('the limits of host functions', () => {
  it('allow 50 calls per execution by default, and maxHostCalls sets another number', async () => {
    const count = 'let n = 0; try { for (;;) { ping(); n++; } } catch (e) { setVariable("n", n); setVariable("m", e.message); }';
    const byDefault = await withFunctions(count, { ping: () => 1 });
    expect(byDefault.variables.n).toBe(50);
    expect(byDefault.variables.m).toMatch(/maxHostCalls/);
    const three = await withFunctions(count, { ping: () => 1 }, { maxHostCalls: 3 });
    expect(three.variables.n).toBe(3);
    expect(three.stats.hostCalls).toHaveLength(3);
  });

  it('give up on a call after hostCallTimeoutMs, and the script goes on', async () => {
    const { value, ms } = await timed(
      withFunctions(
        "try { never() } catch (e) { setVariable('m', e.message) }",
        { never: () => new Promise(() => {}) },
        { hostCallTimeoutMs: 100 },
      ),
    );
    expect(value.variables.m).toBe('host function never did not answer within 100 ms (hostCallTimeoutMs)');
    expect(value.stats.hostCalls).toEqual([expect.objectContaining({ name: 'never', error: 'timeout' })]);
    expect(ms).toBeLessThan(2000);
  });

  it('count waiting against wallTimeMs, not against the CPU budget', async () => {
    const slow = { slow: () => sleep(150, 1) };
    const waited = await withFunctions('slow(); slow();', slow, { cpuTimeMs: 50 });
    expect(waited.stats.hostWaitMs).toBeGreaterThanOrEqual(280);
    expect(waited.stats.cpuMs).toBeLessThan(50);
    const error = await failureOf(withFunctions('slow(); slow(); slow();', slow, { wallTimeMs: 200 }));
    expect(error.code).toBe('ERR_SCRIPT_TIMEOUT');
  });

  it('count values against maxOutputBytes, and arguments too', async () => {
    const big = { big: () => 'x'.repeat(200_000), take: () => 1 };
    const value = await failureOf(withFunctions('big()', big, { maxOutputBytes: 100_000 }));
    expect(value.code).toBe('ERR_SCRIPT_OUTPUT_LIMIT');
    const args = await failureOf(withFunctions("take('y'.repeat(200000))", big, { maxOutputBytes: 100_000 }));
    expect(args.code).toBe('ERR_SCRIPT_OUTPUT_LIMIT');
  });

  it('give the slot back while they wait: one slot serves many waiting executions', async () => {
    const saved = configure();
    configure({ maxConcurrency: 1 });
    try {
      const { value, ms } = await timed(
        Promise.all(Array.from({ length: 10 }, () => withFunctions('setVariable("v", wait())', { wait: () => sleep(100, 1) }))),
      );
      expect(value.every((r) => r.variables.v === 1)).toBe(true);
      expect(ms).toBeLessThan(800);
    } finally {
      configure(saved);
    }
  });

  it('keep the event loop responsive while scripts wait on them', async () => {
    let worst = 0;
    let last = process.hrtime.bigint();
    const timer = setInterval(() => {
      const now = process.hrtime.bigint();
      worst = Math.max(worst, Number(now - last) / 1e6 - 5);
      last = now;
    }, 5);
    try {
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => withFunctions('setVariable("v", wait(' + i + '))', { wait: (n) => sleep(50, n) })),
      );
      expect(results.map((r) => r.variables.v)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    } finally {
      clearInterval(timer);
    }
    expect(worst).toBeLessThan(100);
  });

  it('record every call in stats.hostCalls', async () => {
    const result = await withFunctions('ok(); try { bad() } catch {}', {
      ok: () => 1,
      bad: () => {
        throw new Error('x');
      },
    });
    expect(result.stats.hostCalls).toEqual([
      { name: 'ok', durationMs: expect.any(Number), error: null },
      { name: 'bad', durationMs: expect.any(Number), error: 'threw' },
    ]);
  });
});

describe('host functions and the thread that started the execution', () => {
  it('run on that thread: the main thread here, a worker in a worker', async () => {
    const main = await withFunctions('setVariable("t", thread())', { thread: () => threadId });
    expect(main.variables.t).toBe(0);
    const worker = new Worker(
      `const { parentPort, threadId } = require('node:worker_threads');
       const { runBackendScript } = require(${JSON.stringify(ADDON)});
       runBackendScript('setVariable("t", thread())', null, null, { functions: { thread: () => threadId } })
         .then((r) => parentPort.postMessage({ t: r.variables.t, own: threadId }), (e) => parentPort.postMessage({ error: e.message }));`,
      { eval: true },
    );
    const message = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(message.t).toBe(message.own);
    expect(message.t).not.toBe(0);
  });

  it('end cleanly when that thread goes away while calls are pending', async () => {
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const { runBackendScript } = require(${JSON.stringify(ADDON)});
       for (let i = 0; i < 5; i++) {
         runBackendScript('wait(); setVariable("after", 1)', null, null, { functions: { wait: () => new Promise(() => {}) } }).catch(() => {});
       }
       setTimeout(() => parentPort.postMessage('waiting'), 100);`,
      { eval: true },
    );
    await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate();
    // The executions end on their own (their caller is gone), well before hostCallTimeoutMs.
    const deadline = Date.now() + 3000;
    while (executorStats().inFlight > 0 && Date.now() < deadline) await sleep(50);
    expect(executorStats().inFlight).toBe(0);
    await expectHealthy();
  });

  it('never crash the process when workers end during calls', async () => {
    const child = `
      const { Worker } = require('node:worker_threads');
      const { runBackendScript } = require(${JSON.stringify(ADDON)});
      const code = ${JSON.stringify(`
        const { parentPort } = require('node:worker_threads');
        const { runBackendScript } = require(${JSON.stringify(ADDON)});
        const functions = { soon: () => new Promise((r) => setTimeout(r, 5, 1)), now: () => 1 };
        for (let i = 0; i < 8; i++) runBackendScript('for (let i = 0; i < 40; i++) { soon(); now(); }', null, null, { functions }).catch(() => {});
        parentPort.postMessage('started');`)};
      (async () => {
        for (let round = 0; round < 4; round++) {
          const workers = Array.from({ length: 3 }, () => new Worker(code, { eval: true }));
          await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
          await new Promise((resolve) => setTimeout(resolve, 20 * round));
          await Promise.all(workers.map((w) => w.terminate()));
        }
        const result = await runBackendScript('setVariable("alive", f())', null, null, { functions: { f: () => true } });
        console.log(JSON.stringify(result.variables));
      })();`;
    const { code, signal, stdout } = await new Promise((resolve) =>
      execFile(process.execPath, ['-e', child], { timeout: 25000 }, (error, stdout, stderr) =>
        resolve({ code: error ? error.code : 0, signal: error ? error.signal : null, stdout, stderr }),
      ),
    );
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(stdout.trim()).toBe('{"alive":true}');
  });
});

describe('host functions in pages', () => {
  it('work in renderPage, and the template sees what they returned', async () => {
    const page = `<h1>{{ var.customer.name }}</h1><script scope="backend">setVariable('customer', getCustomer(request.query.id))</script>`;
    const result = await renderPage(page, { request: { query: { id: '7' } } }, null, {
      functions: { getCustomer: async (id) => ({ id, name: `Customer ${id}` }) },
    });
    expect(result.body).toBe('<h1>Customer 7</h1>');
  });
});

'use strict';

// Many executions at once, on the addon's own threads: Node's event loop and libuv's pool stay
// free, and configure() bounds how many run and wait.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { promisify, types } = require('node:util');
const { configure, executorStats } = require('..');
const { run, failureOf, expectHealthy } = require('./support/scripts');

const pbkdf2 = promisify(require('node:crypto').pbkdf2);

let saved;
beforeAll(() => {
  saved = configure();
});
afterEach(() => configure(saved));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A script that spins for `ms` of wall time and reports when it ran. */
const spinning = (ms) => `const start = Date.now(); while (Date.now() - start < ${ms}) {} setVariable('ran', [start, Date.now()]);`;

/** Settles with the time (performance.now) at which `promise` settled. */
const settledAt = (promise) =>
  promise.then(
    () => performance.now(),
    () => performance.now(),
  );

describe('many executions at once', () => {
  it('each get their own input and hand back their own result', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, n) =>
        run('session.set("n", request.query.n * 2); setVariable("who", getVariable("who") + "!")', {
          request: { query: { n } },
          variables: { who: `visitor ${n}` },
        }),
      ),
    );
    results.forEach((result, n) => {
      expect(result.session).toEqual({ n: 2 * n });
      expect(result.variables).toEqual({ who: `visitor ${n}!` });
    });
  });
});

describe('while runaway scripts run', () => {
  it('keeps Node’s event loop turning', async () => {
    configure({ maxConcurrency: 2 });
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    // On Node's thread, each of these would block the loop for its whole second of CPU time.
    const runaways = Array.from({ length: 2 }, () => failureOf(run('for (;;) {}', null, { cpuTimeMs: 1000 })));
    const errors = await Promise.all(runaways);
    delay.disable();
    expect(errors.map((e) => e.code)).toEqual(['ERR_SCRIPT_TIMEOUT', 'ERR_SCRIPT_TIMEOUT']);
    expect(delay.max / 1e6).toBeLessThan(500);
  });

  it('leaves libuv’s thread pool free for fs and crypto', async () => {
    // More runaways than libuv has threads (4): if they ran on its pool, nothing else could.
    configure({ maxConcurrency: 6 });
    const runaways = Array.from({ length: 6 }, () => settledAt(run('for (;;) {}', null, { cpuTimeMs: 1000 })));
    const pooled = [
      ...Array.from({ length: 4 }, () => settledAt(pbkdf2('secret', 'salt', 1000, 32, 'sha256'))),
      settledAt(fs.promises.readFile(__filename)),
      settledAt(fs.promises.stat(__dirname)),
    ];
    const [scriptsDone, poolDone] = await Promise.all([Promise.all(runaways), Promise.all(pooled)]);
    expect(Math.max(...poolDone)).toBeLessThan(Math.min(...scriptsDone));
  });
});

describe('configure', () => {
  it('returns the settings in force and keeps the fields it is not given', () => {
    const before = configure();
    expect(before).toEqual({
      maxConcurrency: expect.any(Number),
      maxQueue: expect.any(Number),
      maxInFlight: expect.any(Number),
      maxAbandoned: 8,
    });
    expect(configure({ maxQueue: 7 })).toEqual({ ...before, maxQueue: 7 });
    expect(configure(null)).toEqual({ ...before, maxQueue: 7 });
  });

  it('takes maxAbandoned from 0 to 1024, and says when it refuses executions', () => {
    const before = configure();
    expect(configure({ maxAbandoned: 0 }).maxAbandoned).toBe(0);
    // With none allowed, executions are refused exactly while an overrun script is still finishing.
    const stats = executorStats();
    expect(stats.refusing).toBe(stats.abandoned > 0 ? 'abandoned' : undefined);
    expect(() => configure({ maxAbandoned: 1025 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => configure({ maxAbandoned: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    configure({ maxAbandoned: before.maxAbandoned });
  });

  it('runs one execution at a time with maxConcurrency 1', async () => {
    configure({ maxConcurrency: 1 });
    const results = await Promise.all([run(spinning(100)), run(spinning(100)), run(spinning(100))]);
    const spans = results.map((r) => r.variables.ran).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
  });

  it('runs executions side by side with maxConcurrency 2', async () => {
    configure({ maxConcurrency: 2 });
    const first = run(spinning(400));
    while (executorStats().running < 1) await sleep(5);
    const second = run(spinning(50));
    const [a, b] = (await Promise.all([first, second])).map((r) => r.variables.ran);
    expect(b[0]).toBeLessThan(a[1]);
  });

  // Regression: a second submission made before a notified idle thread woke used to be lost, and
  // its job waited in the queue with a slot free until the first one ended.
  it('starts two executions submitted together at once when only one thread is idle', async () => {
    const child = `
      const { runBackendScript, configure, executorStats } = require(${JSON.stringify(path.join(__dirname, '..'))});
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      (async () => {
        configure({ maxConcurrency: 2 });
        await runBackendScript('');
        await sleep(200);
        const spin = 'const s = Date.now(); while (Date.now() - s < 300) {}';
        const both = Promise.all([runBackendScript(spin), runBackendScript(spin)]);
        await sleep(150);
        console.log(JSON.stringify(executorStats()));
        await both;
      })();`;
    // A race, so tried in a few fresh processes; every one must start both.
    const seen = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const out = await new Promise((resolve, reject) =>
        execFile('taskset', ['-c', '0', process.execPath, '-e', child], { timeout: 20000 }, (error, stdout) =>
          error ? reject(error) : resolve(stdout),
        ),
      );
      const { running, queued } = JSON.parse(out);
      seen.push({ running, queued });
    }
    expect(seen).toEqual(Array(4).fill({ running: 2, queued: 0 }));
  });

  it('refuses an execution with ERR_SCRIPT_BUSY once maxQueue executions wait, and runs the rest', async () => {
    configure({ maxConcurrency: 1, maxQueue: 1 });
    const running = run('for (;;) {}', null, { cpuTimeMs: 200 });
    const waiting = run('setVariable("waited", true)');
    const refused = await failureOf(run('setVariable("never", true)'));
    expect(types.isNativeError(refused)).toBe(true);
    expect(refused).toMatchObject({ code: 'ERR_SCRIPT_BUSY', logs: [] });
    expect(refused.message).toBe('too many scripts are waiting to run (1 queued); try again later or raise maxQueue with configure()');
    await expect(running).rejects.toMatchObject({ code: 'ERR_SCRIPT_TIMEOUT' });
    await expect(waiting).resolves.toMatchObject({ variables: { waited: true } });
    await expectHealthy();
  });

  it('lets nothing wait with maxQueue 0', async () => {
    configure({ maxConcurrency: 1, maxQueue: 0 });
    const running = run(spinning(100));
    await expect(run('')).rejects.toMatchObject({ code: 'ERR_SCRIPT_BUSY' });
    await expect(running).resolves.toMatchObject({ action: 'render' });
  });

  it.each([
    [
      'maxConcurrency 0',
      { maxConcurrency: 0 },
      'RangeError',
      'ERR_INVALID_ARG_VALUE',
      /^The "options\.maxConcurrency" argument must be an integer from 1 to/,
    ],
    ['a negative maxQueue', { maxQueue: -1 }, 'RangeError', 'ERR_INVALID_ARG_VALUE', /^The "options\.maxQueue" argument/],
    ['a fractional maxInFlight', { maxInFlight: 1.5 }, 'RangeError', 'ERR_INVALID_ARG_VALUE', /^The "options\.maxInFlight" argument/],
    [
      'maxInFlight below maxConcurrency',
      { maxConcurrency: 4, maxInFlight: 2 },
      'RangeError',
      'ERR_INVALID_ARG_VALUE',
      /must be at least maxConcurrency \(4\)/,
    ],
    ['a string maxQueue', { maxQueue: '10' }, 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "options\.maxQueue" argument must be/],
    ['an unknown field', { maxThreads: 2 }, 'TypeError', 'ERR_INVALID_ARG_VALUE', /"maxThreads"/],
    ['options that are a number', 4, 'TypeError', 'ERR_INVALID_ARG_TYPE', /^The "options" argument must be an object/],
  ])('throws for %s and changes nothing', (_, options, name, code, message) => {
    const before = configure();
    let thrown;
    try {
      configure(options);
    } catch (error) {
      thrown = error;
    }
    expect(types.isNativeError(thrown) && thrown.name).toBe(name);
    expect(thrown.code).toBe(code);
    expect(thrown.message).toMatch(message);
    expect(configure()).toEqual(before);
  });
});

describe('the executor’s threads', () => {
  // Threads already on their way (started, or woken and not yet running) count before another is
  // started, so a burst of submissions does not start one thread per submission.
  // Counted by name in /proc, which only Linux has.
  (process.platform === 'linux' ? it : it.skip)('are not many more than maxConcurrency during a burst of short executions', async () => {
    const child = `
      const fs = require('node:fs');
      const { runBackendScript, configure } = require(${JSON.stringify(path.join(__dirname, '..'))});
      const threads = () => fs.readdirSync('/proc/self/task').filter((tid) => {
        try { return fs.readFileSync('/proc/self/task/' + tid + '/comm', 'utf8').trim() === 'backend-script'; } catch { return false; }
      }).length;
      configure({ maxConcurrency: 2 });
      let most = 0;
      const sample = setInterval(() => { most = Math.max(most, threads()); }, 1);
      Promise.all(Array.from({ length: 300 }, () => runBackendScript('1'))).then(() => {
        clearInterval(sample);
        console.log(Math.max(most, threads()));
      });`;
    const out = await new Promise((resolve, reject) =>
      execFile(process.execPath, ['-e', child], { timeout: 20000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    expect(Number(out)).toBeLessThanOrEqual(2 * 2 + 1);
  });
});

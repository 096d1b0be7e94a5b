'use strict';

// The addon in worker_threads, several at once, and workers that end while their scripts run.
const { execFile } = require('node:child_process');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { configure } = require('..');
const { run, expectHealthy } = require('./support/scripts');

const ADDON = path.join(__dirname, '..');

/** Worker code: loads the addon and answers each message { id, source, context, options }. */
const SERVER = `
  const { parentPort } = require('node:worker_threads');
  const { runBackendScript, configure } = require(${JSON.stringify(ADDON)});
  parentPort.on('message', ({ id, source, context, options, configureWith }) => {
    if (configureWith) return parentPort.postMessage({ id, settings: configure(configureWith) });
    runBackendScript(source, context, null, options).then(
      (result) => parentPort.postMessage({ id, result }),
      (error) => parentPort.postMessage({ id, error: { code: error.code, message: error.message } }),
    );
  });
  parentPort.postMessage({ ready: true });`;

/** Starts a worker running SERVER; `ask` sends it a request and resolves with the answer. */
async function startWorker() {
  const worker = new Worker(SERVER, { eval: true });
  const pending = new Map();
  let next = 0;
  await new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (message) => {
      if (message.ready) return resolve();
      pending.get(message.id)(message);
      pending.delete(message.id);
    });
  });
  const ask = (request) =>
    new Promise((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      worker.postMessage({ id, ...request });
    });
  return { worker, ask };
}

let saved;
beforeAll(() => {
  saved = configure();
});
afterAll(() => configure(saved));

describe('the addon in worker_threads', () => {
  it('runs scripts in several workers and the main thread at once', async () => {
    const workers = await Promise.all(Array.from({ length: 4 }, startWorker));
    try {
      const answers = await Promise.all(
        workers.flatMap(({ ask }, w) =>
          Array.from({ length: 10 }, (_, n) =>
            ask({ source: 'setVariable("id", request.query.w * 100 + request.query.n)', context: { request: { query: { w, n } } } }),
          ),
        ),
      );
      const fromMain = await Promise.all(
        Array.from({ length: 10 }, (_, n) => run('setVariable("id", request.query.n)', { request: { query: { n } } })),
      );
      expect(answers.map((a) => a.result.variables.id)).toEqual(
        workers.flatMap((_, w) => Array.from({ length: 10 }, (__, n) => w * 100 + n)),
      );
      expect(fromMain.map((r) => r.variables.id)).toEqual(Array.from({ length: 10 }, (_, n) => n));
    } finally {
      await Promise.all(workers.map(({ worker }) => worker.terminate()));
    }
  });

  it('reports failures to the worker that ran the script', async () => {
    const { worker, ask } = await startWorker();
    try {
      const answer = await ask({ source: 'for (;;) {}', options: { cpuTimeMs: 100 } });
      expect(answer.error).toEqual({ code: 'ERR_SCRIPT_TIMEOUT', message: 'script exceeded its CPU time limit of 100 ms' });
    } finally {
      await worker.terminate();
    }
  });

  it('shares configure() with the whole process', async () => {
    const { worker, ask } = await startWorker();
    try {
      const { settings } = await ask({ configureWith: { maxQueue: 321 } });
      expect(settings.maxQueue).toBe(321);
      expect(configure().maxQueue).toBe(321);
    } finally {
      await worker.terminate();
    }
  });

  it('keeps working after a worker ends while its scripts run and wait', async () => {
    configure({ maxConcurrency: 2 });
    const { worker, ask } = await startWorker();
    // Answers to these never arrive: the worker is gone by then.
    for (let i = 0; i < 3; i++) ask({ source: 'for (;;) {}', options: { cpuTimeMs: 300 } });
    for (let i = 0; i < 3; i++) ask({ source: 'setVariable("queued", true)' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await worker.terminate();
    // The abandoned scripts still end; new ones run, in this thread and in a new worker.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await expectHealthy();
    const again = await startWorker();
    try {
      await expect(again.ask({ source: 'setVariable("ok", 1)' })).resolves.toMatchObject({ result: { variables: { ok: 1 } } });
    } finally {
      await again.worker.terminate();
    }
  });

  it('never crashes the process when workers end while their scripts run', async () => {
    // In a process of its own, so that an abort shows as a signal rather than a lost Jest worker.
    const child = `
      const { Worker } = require('node:worker_threads');
      const { runBackendScript } = require(${JSON.stringify(ADDON)});
      const workerCode = ${JSON.stringify(`
        const { parentPort } = require('node:worker_threads');
        const { runBackendScript } = require(${JSON.stringify(ADDON)});
        runBackendScript('for (;;) {}', null, null, { cpuTimeMs: 200 }).catch(() => {});
        runBackendScript("const list = new Array(200000).fill('x'); for (;;) list.indexOf('y');", null, null, { cpuTimeMs: 200 }).catch(() => {});
        for (let i = 0; i < 4; i++) runBackendScript('console.log(1)').catch(() => {});
        parentPort.postMessage('started');`)};
      (async () => {
        for (let round = 0; round < 2; round++) {
          const workers = Array.from({ length: 3 }, () => new Worker(workerCode, { eval: true }));
          await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
          await new Promise((resolve) => setTimeout(resolve, 30 * round));
          await Promise.all(workers.map((w) => w.terminate()));
        }
        const result = await runBackendScript('setVariable("alive", true)');
        console.log(JSON.stringify(result.variables));
      })();`;
    const { code, signal, stdout, stderr } = await new Promise((resolve) =>
      execFile(process.execPath, ['-e', child], { timeout: 25000 }, (error, stdout, stderr) =>
        resolve({ code: error ? error.code : 0, signal: error ? error.signal : null, stdout, stderr }),
      ),
    );
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(stdout.trim()).toBe('{"alive":true}');
  });

  // A worker that ended leaves executions nobody can receive the answers of: the queued ones are
  // dropped and the running ones stopped, so nobody else waits behind them.
  it('drops the executions of a worker that ended, so later ones do not wait behind them', async () => {
    const child = `
      const { Worker } = require('node:worker_threads');
      const { runBackendScript, configure } = require(${JSON.stringify(ADDON)});
      configure({ maxConcurrency: 2 });
      const workerCode = ${JSON.stringify(`
        const { parentPort } = require('node:worker_threads');
        const { runBackendScript } = require(${JSON.stringify(ADDON)});
        for (let i = 0; i < 8; i++) runBackendScript('for (;;) {}', null, null, { cpuTimeMs: 500 }).catch(() => {});
        parentPort.postMessage('started');`)};
      const worker = new Worker(workerCode, { eval: true });
      worker.once('message', async () => {
        await worker.terminate();
        const start = Date.now();
        await runBackendScript('');
        console.log(Date.now() - start);
      });`;
    const out = await new Promise((resolve, reject) =>
      execFile(process.execPath, ['-e', child], { timeout: 25000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    // 8 runaways of 500 ms on 2 slots would hold the next execution back for about 2 s.
    expect(Number(out)).toBeLessThan(1000);
  });
});

'use strict';

// `node bench/runaway.js` (after `npm run build`): how long each hostile script takes to be
// answered with cpuTimeMs 100, and how long its thread keeps running after the answer
// (executorStats().abandoned back to 0). MEM=bytes sets memoryLimitBytes (default 32 MiB). The
// README's Limits section quotes its figures.
const path = require('node:path');
const { runBackendScript, executorStats } = require(path.join(__dirname, '..'));
const { HOSTILE_SCRIPTS: cases } = require('../__test__/support/hostile-scripts');

(async () => {
  const rows = [];
  for (const [name, source] of cases) {
    const t = process.hrtime.bigint();
    const e = await runBackendScript(source, null, null, { cpuTimeMs: 100, memoryLimitBytes: Number(process.env.MEM || 33554432) }).catch(
      (err) => err,
    );
    const answered = Number(process.hrtime.bigint() - t) / 1e6;
    const t2 = process.hrtime.bigint();
    while (executorStats().abandoned > 0) await new Promise((r) => setImmediate(r));
    const after = Number(process.hrtime.bigint() - t2) / 1e6;
    rows.push([name, e.code ?? 'ok', answered.toFixed(0), after.toFixed(0)]);
  }
  console.log('| script | outcome | answered after ms | ran on after the answer ms |\n|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
})();

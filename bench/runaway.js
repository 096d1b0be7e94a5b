'use strict';

// `node bench/runaway.js` (after `npm run build`): how long each hostile script takes to be
// answered with cpuTimeMs 100, and how long its thread keeps running after the answer
// (executorStats().abandoned back to 0). MEM=bytes sets memoryLimitBytes (default 32 MiB). The
// README's Limits section quotes its figures.
const path = require('node:path');
const { runBackendScript, executorStats } = require(path.join(__dirname, '..'));
const DAG = 'let o = 1; for (let i = 0; i < 880; i++) o = [o]; for (let i = 0; i < 20; i++) o = [o, o];';
const MARKS = "const marks = '\\u0301\\u0316'.repeat(300000);";
const cases = [
  ['plain loop', 'for (;;) {}'],
  ['join 2**53-1', "Array.prototype.join.call({ length: 2 ** 53 - 1 }, '')"],
  ['Array(2**32-1).join', "Array(2 ** 32 - 1).join('')"],
  ['toLocaleString', 'Array.prototype.toLocaleString.call({ length: 2 ** 53 - 1 })'],
  ['reverse', 'Array.prototype.reverse.call({ length: 2 ** 53 - 1 })'],
  ['copyWithin', 'Array.prototype.copyWithin.call({ length: 2 ** 53 - 1 }, 0, 1)'],
  ['slice', 'Array.prototype.slice.call({ length: 2 ** 32 - 1 }, 0)'],
  ['splice', 'Array.prototype.splice.call({ length: 2 ** 53 - 2 }, 0, 0, 1)'],
  ['shift', 'Array.prototype.shift.call({ length: 2 ** 53 - 1 })'],
  ['unshift', 'Array.prototype.unshift.call({ length: 2 ** 53 - 2 }, 1)'],
  ['concat spreadable', '[].concat({ length: 2 ** 32 - 1, [Symbol.isConcatSpreadable]: true })'],
  ['flat', 'Array(2 ** 32 - 1).flat()'],
  ['sort', 'Array.prototype.sort.call({ length: 2 ** 32 - 1 })'],
  ['fill', 'Array.prototype.fill.call({ length: 2 ** 53 - 1 }, 0)'],
  ['String.raw', 'String.raw({ raw: { length: 2 ** 53 - 1 } })'],
  ['normalize marks', `${MARKS} for (;;) marks.normalize('NFD')`],
  ['localeCompare marks', `${MARKS} for (;;) marks.localeCompare(marks + 'a')`],
  ['JSON.stringify deep DAG', `${DAG} JSON.stringify(o)`],
  ['setVariable deep DAG', `${DAG} setVariable('o', o)`],
  [
    'JSON.stringify 300k array',
    'const a = Array.from({ length: 300000 }, (_, i) => ({ i, s: "x".repeat(20) })); for (;;) JSON.stringify(a)',
  ],
  ['indexOf 1M needle', "const h = 'a'.repeat(4e6); const n = 'a'.repeat(1e6) + 'b'; for (;;) h.indexOf(n)"],
  ['BigInt toString', 'const b = 7n ** 200000n; for (;;) b.toString()'],
  ['catastrophic regexp', "/(a+)+$/.test('a'.repeat(40) + 'b')"],
  ['sort 1M', 'const a = Array.from({ length: 1e6 }, (_, i) => (i * 7919) % 1e6); for (;;) a.slice().sort((x, y) => x - y)'],
];
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

'use strict';

// Every script found that could outlast its budget in one builtin call or loop: the hostile
// builtins table `__test__/hostile.spec.js` runs (each must be answered within its budget, its
// thread stopped) and `bench/runaway.js` measures. The list grows with every one found.

const DAG = 'let o = 1; for (let i = 0; i < 880; i++) o = [o]; for (let i = 0; i < 20; i++) o = [o, o];';
const MARKS = "const marks = '\\u0301\\u0316'.repeat(300000);";

/** `[what, source]` pairs. */
const HOSTILE_SCRIPTS = [
  ['a plain endless loop', 'for (;;) {}'],
  ['join of a 2**53-1 array-like', "Array.prototype.join.call({ length: 2 ** 53 - 1 }, '')"],
  ['join of Array(2**32-1)', "Array(2 ** 32 - 1).join('')"],
  ['toLocaleString', 'Array.prototype.toLocaleString.call({ length: 2 ** 53 - 1 })'],
  ['reverse', 'Array.prototype.reverse.call({ length: 2 ** 53 - 1 })'],
  ['copyWithin', 'Array.prototype.copyWithin.call({ length: 2 ** 53 - 1 }, 0, 1)'],
  ['slice', 'Array.prototype.slice.call({ length: 2 ** 32 - 1 }, 0)'],
  ['splice', 'Array.prototype.splice.call({ length: 2 ** 53 - 2 }, 0, 0, 1)'],
  ['shift', 'Array.prototype.shift.call({ length: 2 ** 53 - 1 })'],
  ['unshift', 'Array.prototype.unshift.call({ length: 2 ** 53 - 2 }, 1)'],
  ['a spreadable concat', '[].concat({ length: 2 ** 32 - 1, [Symbol.isConcatSpreadable]: true })'],
  ['flat', 'Array(2 ** 32 - 1).flat()'],
  ['flatMap', 'Array(2 ** 32 - 1).flatMap((x) => x)'],
  ['sort', 'Array.prototype.sort.call({ length: 2 ** 32 - 1 })'],
  ['indexOf', 'Array.prototype.indexOf.call({ length: 2 ** 53 - 1 }, 1)'],
  ['lastIndexOf', 'Array.prototype.lastIndexOf.call({ length: 2 ** 53 - 1 }, 1)'],
  ['includes', 'Array.prototype.includes.call({ length: 2 ** 53 - 1 }, 1)'],
  ['fill', 'Array.prototype.fill.call({ length: 2 ** 53 - 1 }, 0)'],
  ['Array.from', 'Array.from({ length: 2 ** 32 - 1 })'],
  ['String.raw', 'String.raw({ raw: { length: 2 ** 53 - 1 } })'],
  ['Object.keys of a huge sparse array', 'const a = []; a[2 ** 32 - 2] = 1; for (;;) Object.keys(a)'],
  ['normalize of alternating combining marks', `${MARKS} for (;;) marks.normalize('NFD')`],
  ['localeCompare of alternating combining marks', `${MARKS} for (;;) marks.localeCompare(marks + 'a')`],
  ['JSON.stringify of a deep DAG', `${DAG} JSON.stringify(o)`],
  ['setVariable of a deep DAG', `${DAG} setVariable('o', o)`],
  ['session.set of a deep DAG', `${DAG} session.set('o', o)`],
  ['response.json of a deep DAG', `${DAG} response.json(o)`],
  [
    'JSON.stringify of a 300,000-element array',
    'const a = Array.from({ length: 300000 }, (_, i) => ({ i, s: "x".repeat(20) })); for (;;) JSON.stringify(a)',
  ],
  ['indexOf with a million-character needle', "const h = 'a'.repeat(4e6); const n = 'a'.repeat(1e6) + 'b'; for (;;) h.indexOf(n)"],
  ["a huge BigInt's toString", 'const b = 7n ** 200000n; for (;;) b.toString()'],
  ['a catastrophic regexp', "/(a+)+$/.test('a'.repeat(40) + 'b')"],
  ['a million-element sort', 'const a = Array.from({ length: 1e6 }, (_, i) => (i * 7919) % 1e6); for (;;) a.slice().sort((x, y) => x - y)'],
];

module.exports = { HOSTILE_SCRIPTS };

'use strict';

// The README's code blocks cannot drift from code that works: each one is either an example
// kept in examples/ (the block must be that file, or a `// #region` of it, exactly) that these
// tests run, or says in a `<!-- not run: why -->` line why it is not run here.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { walkSeedFlow } = require('./support/seed-flow');

const ROOT = path.join(__dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** Every fenced block, with the line just before it. */
function codeBlocks(markdown) {
  const blocks = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m; (m = re.exec(markdown));) {
    const before = markdown.slice(0, m.index).trimEnd().split('\n').pop();
    blocks.push({ lang: m[1], code: m[2], before, line: markdown.slice(0, m.index).split('\n').length });
  }
  return blocks;
}

/** The text of `examples/…` or of `examples/…#region`, as the README shows it (a region dedented). */
function exampleText(ref) {
  const [file, region] = ref.split('#');
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  if (!region) return text;
  const start = text.indexOf(`// #region ${region}\n`);
  const end = text.indexOf('// #endregion', start);
  if (start < 0 || end < 0) throw new Error(`${file} has no region ${region}`);
  const lines = text.slice(start, end).split('\n').slice(1, -1);
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)[0].length));
  return lines.map((l) => l.slice(indent)).join('\n') + '\n';
}

// The examples the tests below run; a README block may only show these.
const RUN = [
  'examples/site/server.js',
  'examples/site/server.mjs',
  'examples/site/pages/welcome.html',
  'examples/site/pages/login.html',
  'examples/run-script.mjs',
];

describe('the README', () => {
  const blocks = codeBlocks(README);

  it('marks every code block as an example the tests run, or says why it is not run', () => {
    expect(blocks.length).toBeGreaterThan(8);
    const unmarked = blocks.filter((b) => !/^<!-- (example: \S+|not run: .+) -->$/.test(b.before));
    expect(unmarked.map((b) => `README.md:${b.line}`)).toEqual([]);
  });

  it.each(blocks.filter((b) => b.before.startsWith('<!-- example:')).map((b) => [b.before.slice(14, -4), b]))(
    'shows %s exactly as it is in examples/',
    (ref, block) => {
      expect(RUN).toContain(ref.split('#')[0]);
      expect(block.code).toBe(exampleText(ref));
    },
  );
});

describe('the examples', () => {
  it('the Quick start site, in CommonJS, serves the seed flow', () => walkSeedFlow(path.join(ROOT, 'examples/site/server.js')), 120000);

  it('the Quick start site, as ESM, serves the seed flow', () => walkSeedFlow(path.join(ROOT, 'examples/site/server.mjs')), 120000);

  it('running scripts from Node prints the result, the page and the timeout', () => {
    const run = spawnSync(process.execPath, [path.join(ROOT, 'examples/run-script.mjs')], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('Hello again, visit 3 { visits: 3 }\n200 <h1>Example</h1>\n');
    expect(run.stderr).toBe('ERR_SCRIPT_TIMEOUT: script exceeded its CPU time limit of 50 ms\n');
  });
});

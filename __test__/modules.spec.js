'use strict';

// Shared modules: createModules() compiles a site's ES modules once; scripts and pages import
// them by name, each execution with its own fresh copy of every module.
const { createModules, renderPage, checkPage, Modules } = require('..');
const { run, failureOf } = require('./support/scripts');

const SOURCES = {
  validators: [
    'export function isEmail(s) {',
    "  return typeof s === 'string' && /^[^@\\s]+@[^@\\s]+$/.test(s);",
    '}',
    'export let loaded = 0;',
    'loaded++;',
    'export function bump() { return ++loaded; }',
  ].join('\n'),
  format: [
    "import { isEmail } from 'validators';",
    "export const label = (s) => (isEmail(s) ? 'email' : 'text') + ':' + s;",
    'export function fail() {',
    '  null.field;',
    '}',
  ].join('\n'),
  // A cycle: each uses the other only once both are evaluated, as the spec allows.
  even: "import { odd } from 'odd';\nexport const even = (n) => (n === 0 ? true : odd(n - 1));",
  odd: "import { even } from 'even';\nexport const odd = (n) => (n === 0 ? false : even(n - 1));",
  leaky: 'globalThis.leak = (globalThis.leak ?? 0) + 1;\nexport const seen = globalThis.leak;',
};

let modules;
beforeAll(async () => {
  modules = await createModules(SOURCES);
});

const withModules = (source, context = null, options = {}) => run(source, context, { modules, ...options });

describe('createModules', () => {
  it('compiles a set whose names scripts can import', () => {
    expect(modules).toBeInstanceOf(Modules);
    expect(modules.names).toEqual(['even', 'format', 'leaky', 'odd', 'validators']);
  });

  it.each([
    [
      'a module that does not parse',
      { ok: 'export const x = 1;', broken: 'export const = 1;' },
      'ERR_SCRIPT_SYNTAX',
      { module: 'broken', line: 1, column: 14 },
    ],
    [
      'an import of a module the set does not have',
      { ok: "const a = 1;\nimport { x } from 'missing';" },
      'ERR_SCRIPT_MODULE',
      { module: 'ok', line: 2 },
    ],
    ['an import of a relative path', { ok: "import { x } from './other.js';" }, 'ERR_SCRIPT_MODULE', { module: 'ok', line: 1 }],
  ])('rejects %s, saying where', async (_, sources, code, where) => {
    const error = await failureOf(createModules(sources));
    expect(error).toMatchObject({ code, ...where });
    expect(error.message).toContain(where.module);
  });

  it.each([
    ['a name that is a path', { 'lib/x': '' }, 'ERR_INVALID_ARG_VALUE'],
    ['a node: name', { 'node:fs': '' }, 'ERR_INVALID_ARG_VALUE'],
    ['a name with a space', { 'my module': '' }, 'ERR_INVALID_ARG_VALUE'],
    ['an empty name', { '': '' }, 'ERR_INVALID_ARG_VALUE'],
    ['a source that is not a string', { ok: 42 }, 'ERR_INVALID_ARG_TYPE'],
    ['sources past 8 MiB together', { a: 'x'.repeat(5 << 20), b: 'y'.repeat(5 << 20) }, 'ERR_INVALID_ARG_VALUE'],
    ['an array', [], 'ERR_INVALID_ARG_TYPE'],
    ['a string', 'export const a = 1', 'ERR_INVALID_ARG_TYPE'],
  ])('rejects %s as a bad argument', async (_, sources, code) => {
    await expect(createModules(sources)).rejects.toMatchObject({ code });
  });

  it('takes a chain of a thousand modules, each importing the next', async () => {
    const sources = {};
    for (let i = 0; i < 1000; i++) {
      sources[`m${i}`] = i === 999 ? 'export const depth = 1;' : `import { depth as d } from 'm${i + 1}';\nexport const depth = d + 1;`;
    }
    const chain = await createModules(sources);
    const result = await run("import { depth } from 'm0'; setVariable('depth', depth);", null, { modules: chain, maxStackBytes: 8 << 20 });
    expect(result.variables).toEqual({ depth: 1000 });
  });

  it('refuses options.modules that createModules did not make', async () => {
    for (const forged of [{ names: ['validators'] }, Object.create(Modules.prototype), 'validators']) {
      await expect(run("import { isEmail } from 'validators';", null, { modules: forged })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARG_TYPE',
      });
    }
  });
});

describe('import in scripts', () => {
  it('imports named exports, through modules that import each other', async () => {
    const result = await withModules(
      "import { label } from 'format';\nimport { isEmail } from 'validators';\nsetVariable('a', label('ada@example.com'));\nsetVariable('b', isEmail('nope'));",
    );
    expect(result.variables).toEqual({ a: 'email:ada@example.com', b: false });
  });

  it('resolves cycles as the spec says', async () => {
    const result = await withModules("import { even } from 'even';\nsetVariable('ten', even(10)); setVariable('seven', even(7));");
    expect(result.variables).toEqual({ ten: true, seven: false });
  });

  it('runs module code again in every execution: no module state survives', async () => {
    const source =
      "import { bump, loaded } from 'validators';\nimport { seen } from 'leaky';\nsetVariable('after', bump()); setVariable('seen', seen);";
    for (let i = 0; i < 3; i++) {
      expect((await withModules(source)).variables).toEqual({ after: 2, seen: 1 });
    }
  });

  it('names the module and the importing line when a name resolves to nothing', async () => {
    const error = await failureOf(withModules("const a = 1;\n\nimport { isEmail } from 'validatorz';"));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_MODULE', line: 3 });
    expect(error.message).toContain('"validatorz"');
    expect(error.message).toContain('validators');
  });

  it.each([
    ['a relative path', "import x from './validators.js';"],
    ['a node: module', "import fs from 'node:fs';"],
    ['a bare Node module', "import fs from 'fs';"],
    ['a URL', "import x from 'https://example.com/x.js';"],
    ['an absolute path', "import x from '/etc/passwd';"],
  ])('resolves only names of the set, never %s', async (_, source) => {
    const error = await failureOf(withModules(source));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_MODULE', line: 1 });
  });

  it('fails an import with ERR_SCRIPT_MODULE when no modules were given', async () => {
    const error = await failureOf(run("import { isEmail } from 'validators';"));
    expect(error.code).toBe('ERR_SCRIPT_MODULE');
    expect(error.message).toContain('no shared modules were given');
  });

  it('fails an import of a name the module does not export', async () => {
    const error = await failureOf(withModules("import { isPhone } from 'validators';"));
    expect(error.code).toBe('ERR_SCRIPT_MODULE');
    expect(error.message).toContain('isPhone');
  });

  it('rejects import() with a TypeError, in scripts and in modules', async () => {
    const dynamic = await createModules({ loader: "export const load = () => import('validators');" });
    const source = `import { load } from 'loader';
      const seen = [];
      await import('validators').catch((e) => seen.push(e.name));
      await load().catch((e) => seen.push(e.name));
      setVariable('seen', seen);`;
    const result = await run(source, null, { modules: dynamic });
    expect(result.variables).toEqual({ seen: ['TypeError', 'TypeError'] });
  });

  it('gives errors inside a module the module, line and column', async () => {
    const error = await failureOf(withModules("import { fail } from 'format';\n\nfail();"));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_EXCEPTION', module: 'format', line: 4, column: 3 });
    expect(error.message).toMatch(/^script threw an uncaught TypeError \(module format, line 4, column 3\)/);
    expect(error.message).not.toContain('null.field');
  });

  it('runs a script that parses only as a module (top-level await) as one, whatever its comments say', async () => {
    for (const source of ['const v = await Promise.resolve(7);\nsetVariable("v", v);', '// no imports here\nsetVariable("v", await 7);']) {
      expect((await run(source)).variables).toEqual({ v: 7 });
    }
  });

  it('keeps scripts without imports as they were: sloppy-mode scripts, and "import" in a string', async () => {
    const result = await run("undeclared = 5; setVariable('v', undeclared); setVariable('s', 'import x from \"y\"');");
    expect(result.variables).toEqual({ v: 5, s: 'import x from "y"' });
    const error = await failureOf(run("const s = 'import';\nconst = 1;"));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_SYNTAX', line: 2 });
  });
});

describe('import in pages', () => {
  const page = [
    '<p>{{ var.label }}</p>',
    '<script scope="backend">',
    "  setVariable('first', 1);",
    '</script>',
    '<script scope="backend">',
    "  import { label } from 'format';",
    "  setVariable('label', label(request.query.e));",
    '</script>',
  ].join('\n');

  it('runs the blocks as one script with imports at the top of any block', async () => {
    const result = await renderPage(page, { request: { query: { e: 'ada@example.com' } } }, null, { modules });
    expect(result.body).toContain('<p>email:ada@example.com</p>');
    expect(result.body).not.toContain('import');
  });

  it('reports a missing import at its line in the page, and checkPage finds it without running anything', async () => {
    const broken = page.replace("from 'format'", "from 'formats'");
    const error = await failureOf(renderPage(broken, {}, null, { modules }));
    expect(error).toMatchObject({ code: 'ERR_SCRIPT_MODULE', line: 6 });
    expect(await checkPage(broken, { modules })).toEqual([expect.objectContaining({ code: 'ERR_SCRIPT_MODULE', line: 6 })]);
    expect(await checkPage(page, { modules })).toEqual([]);
  });
});

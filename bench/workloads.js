'use strict';

// The scripts every engine runs, the context each execution gets, and the check of every result.
// Ours run against the real host API; the peers get the same globals from peer-prelude.js.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

// The token check of the README's example page, without its HTTP call: the validation service's
// answer arrives as a JSON cookie instead.
const BACKEND_SOURCE = `
const token = request.query.token;
if (!token || token.length < 8) redirect('/login?next=' + encodeURIComponent(request.path));
const { user } = JSON.parse(request.cookies.profile);
setVariable('user_name', user.name);
session.set('user', user);
`;

const PROFILE = { user: { name: 'Ada', email: 'ada@example.com' } };

/** Every other execution has no token and is redirected, so both branches are exercised. */
function backendContext(i) {
  return {
    request: {
      method: 'GET',
      path: '/welcome',
      query: i % 2 === 0 ? { token: 'tok-0123456789' } : {},
      headers: { 'user-agent': 'bench' },
      cookies: { profile: JSON.stringify(PROFILE) },
    },
    session: { visits: 1 },
    variables: { site_name: 'Example' },
  };
}

function checkBackend(result, i) {
  if (i % 2 === 0) {
    assert.equal(result.action, 'render');
    assert.equal(result.variables.user_name, 'Ada');
    assert.deepEqual(result.session.user, PROFILE.user);
  } else {
    assert.equal(result.action, 'redirect');
    assert.equal(result.location, '/login?next=%2Fwelcome');
  }
}

const CPU_ITERATIONS = 200_000;
const CPU_SOURCE = `
let x = 0;
for (let i = 0; i < ${CPU_ITERATIONS}; i++) x = (x * 31 + i) % 1000003;
setVariable('x', x);
`;
const CPU_EXPECTED = (() => {
  let x = 0;
  for (let i = 0; i < CPU_ITERATIONS; i++) x = (x * 31 + i) % 1000003;
  return x;
})();

function checkCpu(result) {
  assert.equal(result.variables.x, CPU_EXPECTED);
}

/** One HTTP request the upstream answers after `IO_DELAY_MS`, through the authenticated proxy. */
const IO_DELAY_MS = 50;
const IO_SOURCE_OURS = `
const r = http.get(getVariable('upstream') + '/slow?ms=${IO_DELAY_MS}');
setVariable('status', r.status);
setVariable('body', r.body);
`;
/** The peers' equivalent: one asynchronous host call that answers after `IO_DELAY_MS`. */
const IO_SOURCE_PEER = `
(async () => {
  const r = await slowCall(${IO_DELAY_MS});
  setVariable('status', r.status);
  setVariable('body', r.body);
})()
`;
const IO_ANSWER = { status: 200, body: 'slow done' };

function checkIo(result) {
  assert.equal(result.variables.status, IO_ANSWER.status, result.variables.error);
  assert.equal(result.variables.body, IO_ANSWER.body);
}

/**
 * A CommonJS bundle, as a bundler would make it: every module under `bench/node_modules` that the
 * entries reach, each wrapped in a function, with the entries' exports put on globals.
 * @param {Record<string, string>} globals global name → module id, e.g. `{ isEmail: 'validator/lib/isEmail' }`
 */
function bundle(globals) {
  const root = path.join(__dirname, 'node_modules');
  const modules = new Map(); // id → { file, deps }
  const add = (file) => {
    const id = path.relative(root, file);
    if (modules.has(id)) return id;
    const code = fs.readFileSync(file, 'utf8');
    const entry = { code, deps: {} };
    modules.set(id, entry);
    for (const [, request] of code.matchAll(/require\("(\.[^"]+)"\)/g)) {
      entry.deps[request] = add(require.resolve(path.resolve(path.dirname(file), request)));
    }
    return id;
  };
  const entries = Object.entries(globals).map(([name, request]) => [name, add(require.resolve(request))]);
  const parts = ['(function () {', 'var defs = {};'];
  for (const [id, { code, deps }] of modules) {
    parts.push(`defs[${JSON.stringify(id)}] = [function (module, exports, require) {\n${code}\n}, ${JSON.stringify(deps)}];`);
  }
  parts.push(
    'var cache = {};',
    'function load(id) {',
    '  if (cache[id]) return cache[id].exports;',
    '  var module = (cache[id] = { exports: {} });',
    '  var deps = defs[id][1];',
    '  defs[id][0].call(module.exports, module, module.exports, function (request) { return load(deps[request]); });',
    '  return module.exports;',
    '}',
    ...entries.map(([name, id]) => {
      const value = `load(${JSON.stringify(id)})`;
      return `globalThis[${JSON.stringify(name)}] = ${value}.default || ${value};`;
    }),
    '})();',
  );
  return parts.join('\n');
}

// A sign-up form's page script, on top of validate.js and validator's e-mail check.
const BIG_PAGE = `
const form = request.query;
const errors = validate(form, {
  email: { presence: true, email: true },
  website: { url: true },
  age: { presence: true, numericality: { onlyInteger: true, greaterThanOrEqualTo: 18 } },
  password: { presence: true, length: { minimum: 10 } },
});
setVariable('errors', errors || null);
setVariable('email_ok', isEmail(form.email, { allow_display_name: false }));
`;

let bigLibrary;
/** The big script: the bundle plus the page script, with `nonce` in a comment so that each round's first run parses it anew. */
function bigSource(nonce) {
  bigLibrary ??= bundle({ validate: 'validate.js', isEmail: 'validator/lib/isEmail' });
  return `// round ${nonce}\n${bigLibrary}\n${BIG_PAGE}`;
}

const BIG_CONTEXT = {
  request: {
    method: 'GET',
    path: '/signup',
    query: { email: 'ada@example.com', website: 'https://example.com', age: '17', password: 'short' },
  },
};

function checkBig(result) {
  assert.deepEqual(Object.keys(result.variables.errors).sort(), ['age', 'password']);
  assert.equal(result.variables.email_ok, true);
}

function checkEmpty(result) {
  assert.equal(result.action, 'render');
}

/** Host functions: one call that answers after IO_DELAY_MS, as the io workload's request does. */
const HOST_WAIT_SOURCE = `setVariable('body', slow(${IO_DELAY_MS}).body);`;

/** How many immediate host calls the hostcall workload makes per execution. */
const HOST_CALLS = 50;
const HOST_CALLS_SOURCE = `let sum = 0; for (let i = 0; i < ${HOST_CALLS}; i++) sum += ping(i); setVariable('sum', sum);`;

function checkHostWait(result) {
  assert.equal(result.variables.body, IO_ANSWER.body);
}

function checkHostCalls(result) {
  assert.equal(result.variables.sum, (HOST_CALLS * (HOST_CALLS - 1)) / 2);
}

module.exports = {
  BACKEND_SOURCE,
  backendContext,
  checkBackend,
  CPU_SOURCE,
  checkCpu,
  IO_DELAY_MS,
  IO_SOURCE_OURS,
  IO_SOURCE_PEER,
  IO_ANSWER,
  checkIo,
  bigSource,
  BIG_CONTEXT,
  checkBig,
  checkEmpty,
  HOST_WAIT_SOURCE,
  HOST_CALLS,
  HOST_CALLS_SOURCE,
  checkHostWait,
  checkHostCalls,
};

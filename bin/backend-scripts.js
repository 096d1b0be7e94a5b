#!/usr/bin/env node
// The command line for pages: check them before deploying (a pre-commit hook, CI), or run one by
// hand. Both go through the addon as a request would: checkPage parses on the addon's threads,
// render runs renderPage.
'use strict';

const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const USAGE = `Usage: backend-scripts <command> [options]

Commands:
  check <folder or page>...   parse every page's backend blocks and template without running
                              anything; print file:line:column: message for each error; exit 1
                              when a page fails, 0 when all are good
  render <page>               run one page as a request would and print the response: status,
                              headers and body (exit 1 when the page fails)

Options of check:
  --ext EXT                   extension of the pages looked for in folders (repeatable;
                              default html); files named on the command line are always checked
  --modules DIR               the site's shared modules (one NAME.js each): they are checked too,
                              and so is every page's import of them

Options of render:
  --query NAME=VALUE          a query parameter (repeatable)
  --method METHOD             GET, HEAD or POST (default GET)
  --body TEXT                 the request body: JSON, or a form body such as a=1&b=2
  --header 'NAME: VALUE'      a request header (repeatable)
  --cookie NAME=VALUE         a request cookie (repeatable)
  --session JSON              the visitor's session, a JSON object (default {})
  --variables JSON            the page's starting variables, a JSON object (default {})
  --path PATH                 request.path (default / and the page's name without extension)
  --proxy URL                 the egress proxy for http.get/post, credentials as userinfo:
                              http://user:password@127.0.0.1:3128 (without it http is undefined)
  --allowed-range CIDR        lift the built-in block of a range for http.get/post, such as
                              127.0.0.0/8 to reach a local test server (repeatable)
  --cpu-time-ms N             the script's CPU time limit (default 1000)
  --modules DIR               the site's shared modules the page may import (one NAME.js each)
  --json                      print the whole result as JSON: status, headers, body, variables,
                              session and its changes, cookies, logs and stats

  -h, --help                  show this help

Exit status: 0 success, 1 a page failed, 2 bad arguments.`;

/** Bad arguments: the message says what was wrong; exit status 2. */
class UsageError extends Error {}

function main(argv) {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return Promise.resolve(command === undefined ? 2 : 0);
  }
  if (command === 'check') return check(rest);
  if (command === 'render') return render(rest);
  throw new UsageError(`unknown command ${JSON.stringify(command)}: use check or render`);
}

function parse(args, options) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error.message);
  }
}

// ---- check ----------------------------------------------------------------------------------

async function check(args) {
  const { values, positionals } = parse(args, { ext: { type: 'string', multiple: true }, modules: { type: 'string' } });
  if (values.help) return help();
  if (positionals.length === 0) throw new UsageError('check needs a folder or a page to check');
  const extensions = (values.ext ?? ['html']).map((e) => `.${e.replace(/^\./, '').toLowerCase()}`);
  const files = [];
  for (const target of positionals) {
    let stat;
    try {
      stat = fs.statSync(target);
    } catch {
      throw new UsageError(`${target}: no such file or folder`);
    }
    if (stat.isDirectory()) files.push(...(await pagesUnder(target, extensions)));
    else files.push(target);
  }
  const { checkPage } = require('../lib');
  const started = process.hrtime.bigint();
  let options = null;
  if (values.modules !== undefined) {
    const modules = await moduleSet(values.modules).catch((error) => {
      if (!(error instanceof ModuleError)) throw error;
      process.stdout.write(`${error.message}\n`);
      return null;
    });
    if (modules === null) return 1;
    options = { modules };
  }
  const reports = new Array(files.length);
  let next = 0;
  // A few checks per core in flight: the addon's threads do the work, Node only reads files.
  const workers = Array.from({ length: Math.min(files.length, 4 * (os.availableParallelism?.() ?? 2)) }, async () => {
    while (next < files.length) {
      const i = next++;
      reports[i] = await checkFile(checkPage, files[i], options);
    }
  });
  await Promise.all(workers);
  let failed = 0;
  let errors = 0;
  for (const lines of reports) {
    if (lines.length === 0) continue;
    failed++;
    errors += lines.length;
    process.stdout.write(lines.map((l) => `${l}\n`).join(''));
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const pages = `${files.length} page${files.length === 1 ? '' : 's'}`;
  process.stderr.write(
    failed === 0
      ? `backend-scripts: ${pages} checked, no errors (${ms.toFixed(0)} ms)\n`
      : `backend-scripts: ${pages} checked, ${errors} error${errors === 1 ? '' : 's'} in ${failed} page${failed === 1 ? '' : 's'} (${ms.toFixed(0)} ms)\n`,
  );
  return failed === 0 ? 0 : 1;
}

/** The pages under a folder, in a stable order; dot-files, dot-folders and node_modules skipped. */
async function pagesUnder(dir, extensions) {
  const found = [];
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await pagesUnder(file, extensions)));
    else if (entry.isFile() && extensions.some((ext) => entry.name.toLowerCase().endsWith(ext))) found.push(file);
  }
  return found;
}

/** `file:line:column: message` for each error of one page (no column when it is unknown). */
async function checkFile(checkPage, file, options) {
  let html;
  try {
    html = await fsp.readFile(file, 'utf8');
  } catch (error) {
    return [`${file}: cannot be read: ${error.message}`];
  }
  try {
    const found = await checkPage(html, options);
    return found.map((d) => `${[file, d.line, d.column].filter((p) => p !== null && p !== undefined).join(':')}: ${d.message}`);
  } catch (error) {
    return [`${file}: ${error.message}`];
  }
}

// ---- render ---------------------------------------------------------------------------------

async function render(args) {
  const { values, positionals } = parse(args, {
    query: { type: 'string', multiple: true },
    method: { type: 'string' },
    body: { type: 'string' },
    header: { type: 'string', multiple: true },
    cookie: { type: 'string', multiple: true },
    session: { type: 'string' },
    variables: { type: 'string' },
    path: { type: 'string' },
    proxy: { type: 'string' },
    'allowed-range': { type: 'string', multiple: true },
    'cpu-time-ms': { type: 'string' },
    modules: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) return help();
  if (positionals.length !== 1) throw new UsageError('render needs exactly one page');
  const file = positionals[0];
  let html;
  try {
    html = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${file}: cannot be read: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  }
  const method = (values.method ?? 'GET').toUpperCase();
  if (!['GET', 'HEAD', 'POST'].includes(method))
    throw new UsageError(`--method must be GET, HEAD or POST, not ${JSON.stringify(values.method)}`);
  const query = pairs(values.query, '--query', '=');
  const requestPath =
    values.path ??
    `/${path
      .basename(file)
      .replace(/\.[^.]*$/, '')
      .replace(/^index$/, '')}`;
  if (!requestPath.startsWith('/')) throw new UsageError(`--path must start with /, not ${JSON.stringify(requestPath)}`);
  const search = new URLSearchParams(query).toString();
  const headers = Object.fromEntries(Object.entries(pairs(values.header, '--header', ':')).map(([k, v]) => [k.toLowerCase(), v]));
  const request = {
    method,
    url: search ? `${requestPath}?${search}` : requestPath,
    path: requestPath,
    query,
    headers,
    cookies: pairs(values.cookie, '--cookie', '='),
    body: values.body === undefined ? null : bodyOf(values.body),
    ip: '127.0.0.1',
  };
  const context = { request, session: jsonObject(values.session, '--session'), variables: jsonObject(values.variables, '--variables') };
  let proxy = null;
  if (values.proxy !== undefined) {
    let url;
    try {
      url = new URL(values.proxy);
    } catch {
      throw new UsageError(`--proxy must be a URL such as http://user:password@127.0.0.1:3128, not ${JSON.stringify(values.proxy)}`);
    }
    proxy = { url: url.href, ...(values['allowed-range'] ? { allowedRanges: values['allowed-range'] } : {}) };
  } else if (values['allowed-range']) {
    throw new UsageError('--allowed-range needs --proxy: without a proxy, scripts have no http');
  }
  let options = null;
  if (values['cpu-time-ms'] !== undefined) {
    const n = Number(values['cpu-time-ms']);
    if (!Number.isInteger(n) || n <= 0)
      throw new UsageError(`--cpu-time-ms must be a positive integer, not ${JSON.stringify(values['cpu-time-ms'])}`);
    options = { cpuTimeMs: n };
  }
  if (values.modules !== undefined) {
    try {
      options = { ...options, modules: await moduleSet(values.modules) };
    } catch (error) {
      if (!(error instanceof ModuleError)) throw error;
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
  }
  const { renderPage } = require('../lib');
  let result;
  try {
    result = await renderPage(html, context, proxy, options);
  } catch (error) {
    if (error.code?.startsWith('ERR_INVALID_ARG')) throw new UsageError(error.message);
    if (values.json) {
      const { code, message, line = null, column = null, logs = [] } = error;
      process.stdout.write(`${JSON.stringify({ error: { code, message, line, column }, logs }, null, 2)}\n`);
    } else {
      for (const log of error.logs ?? []) process.stderr.write(`[${log.level}] ${log.message}\n`);
      const at = [file, error.line, error.column].filter((p) => p !== null && p !== undefined).join(':');
      process.stderr.write(`${at}: ${error.code}: ${error.message}\n`);
    }
    return 1;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  for (const log of result.logs) process.stderr.write(`[${log.level}] ${log.message}\n`);
  const lines = [`HTTP ${result.status}`];
  for (const [name, value] of Object.entries(result.headers).sort()) lines.push(`${name}: ${value}`);
  for (const c of result.cookies) lines.push(`set-cookie: ${setCookie(c)}`);
  process.stdout.write(`${lines.join('\n')}\n\n${method === 'HEAD' ? '' : result.body}`);
  if (result.body !== '' && !result.body.endsWith('\n') && method !== 'HEAD') process.stdout.write('\n');
  return 0;
}

/** A module of the set does not compile: the message is `file:line:column: message`. */
class ModuleError extends Error {}

/** The shared modules in `dir`, compiled. */
async function moduleSet(dir) {
  let stat;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new UsageError(`--modules ${dir}: no such folder`);
  }
  if (!stat.isDirectory()) throw new UsageError(`--modules ${dir}: not a folder`);
  const { ModuleFolder } = require('../lib/modules.js');
  try {
    return await new ModuleFolder(dir).current();
  } catch (error) {
    if (error.code?.startsWith('ERR_INVALID_ARG')) throw new UsageError(`--modules ${dir}: ${error.message}`);
    const file = error.module ? path.join(dir, `${error.module}.js`) : dir;
    const at = [file, error.line, error.column].filter((p) => p !== null && p !== undefined).join(':');
    throw new ModuleError(`${at}: ${error.message}`);
  }
}

/** `NAME<sep>VALUE` arguments as an object; the first occurrence of a name wins over none. */
function pairs(list, flag, sep) {
  const out = {};
  for (const item of list ?? []) {
    const at = item.indexOf(sep);
    if (at <= 0) throw new UsageError(`${flag} takes NAME${sep}VALUE, not ${JSON.stringify(item)}`);
    const name = item.slice(0, at).trim();
    if (name === '__proto__') throw new UsageError(`${flag}: ${JSON.stringify(name)} is not a usable name`);
    out[name] = item.slice(at + 1).trim();
  }
  return out;
}

function jsonObject(text, flag) {
  if (text === undefined) return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${flag} must be a JSON object: ${error.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new UsageError(`${flag} must be a JSON object, such as {"user":"ada"}`);
  return value;
}

/** A JSON body as its value, anything else as a form body, as Express's parsers would give it. */
function bodyOf(text) {
  if (/^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new UsageError(`--body looks like JSON but does not parse: ${error.message}`);
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function setCookie({ name, value, options }) {
  const parts = [`${name}=${value === null ? '' : encodeURIComponent(value)}`];
  const o = options ?? {};
  if (value === null) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  else if (o.maxAge != null) parts.push(`Max-Age=${Math.floor(o.maxAge / 1000)}`);
  if (o.domain) parts.push(`Domain=${o.domain}`);
  if (o.path) parts.push(`Path=${o.path}`);
  if (o.httpOnly) parts.push('HttpOnly');
  if (o.secure) parts.push('Secure');
  if (o.sameSite) parts.push(`SameSite=${o.sameSite[0].toUpperCase()}${o.sameSite.slice(1)}`);
  return parts.join('; ');
}

function help() {
  process.stdout.write(`${USAGE}\n`);
  return 0;
}

Promise.resolve()
  .then(() => main(process.argv.slice(2)))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      if (error instanceof UsageError) {
        process.stderr.write(`backend-scripts: ${error.message}\nRun backend-scripts --help for the options.\n`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`backend-scripts: ${error.stack ?? error}\n`);
        process.exitCode = 1;
      }
    },
  );

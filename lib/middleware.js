'use strict';

// backendScripts(options): Express middleware that serves the pages under `root`, running their
// <script scope="backend"> blocks with renderPage for every request.

const fs = require('node:fs');
const http = require('node:http');
const fsp = require('node:fs/promises');
const path = require('node:path');
const { renderTemplate } = require('../index.js');
const { renderPage } = require('./host.js');
const { ModuleFolder } = require('./modules.js');
const { ScriptError } = require('./errors.js');

const METHODS = new Set(['GET', 'HEAD', 'POST']);
// Pages kept in memory at once; each is re-read when its file changes.
const MAX_CACHED_PAGES = 1000;
// Session fields that belong to express-session: never shown to a script, never written.
const SESSION_OWN = new Set(['cookie', 'id', 'req', '__proto__', 'constructor', 'prototype']);
const ON_SCRIPT_ERROR = new Set(['next', 'render']);

/**
 * @param {import('./index').BackendScriptsOptions} options
 * @returns {import('./index').BackendScriptsMiddleware}
 */
function backendScripts(options) {
  const config = validate(options);
  const pages = new PageFiles(config.root, config.modules?.dir ?? null);
  return function backendScriptsMiddleware(req, res, next) {
    if (!METHODS.has(req.method)) return next();
    // Every failure goes to next(err), with Express 4 (which ignores returned promises) as with 5.
    return serve(req, res, config, pages).then((served) => {
      if (!served) next();
    }, next);
  };
}

/** Answers with the page the request maps to; resolves with false when there is none. */
async function serve(req, res, config, pages) {
  const page = await pages.find(candidates(req.path, config));
  if (!page) return false;
  try {
    const { stats, failure } = await respond(req, res, config, page);
    report(config, page, req, stats, failure);
  } catch (error) {
    report(config, page, req, error?.stats, error);
    throw error;
  }
  return true;
}

/**
 * Runs the page and answers with what it produced; resolves with the execution's record, and the
 * script's failure when the page was served without its script (`onScriptError: 'render'`).
 */
async function respond(req, res, config, page) {
  const [variables, proxy, limits, functions, modules] = await Promise.all([
    typeof config.variables === 'function' ? config.variables(req, res) : config.variables,
    perRequest(config.proxy, 'options.proxy', 'a ProxyConfig object or null', req, res),
    perRequest(config.limits, 'options.limits', 'a RunOptions object or null', req, res),
    perRequest(config.functions, 'options.functions', 'an object of functions or null', req, res),
    config.modules?.current() ?? null,
  ]).catch((error) => {
    throw pageError(error, page.file);
  });
  const options = functions || modules ? { ...limits, ...(functions && { functions }), ...(modules && { modules }) } : limits;
  const context = { request: requestOf(req, config), session: sessionOf(req), variables: variables ?? {} };
  let result, setCookies, headers;
  try {
    result = await renderPage(page.html, context, proxy, options);
    if (config.onLogs && result.logs.length > 0) config.onLogs(result.logs, { page: page.file, req });
    const refused = result.cookies.find((c) => c.name === config.sessionCookieName);
    if (refused) {
      const verb = refused.value === null ? 'delete' : 'set';
      throw Object.assign(
        new ScriptError(
          `the page's script tried to ${verb} the cookie "${refused.name}", which is the session cookie; store values with session.set instead`,
          { code: 'ERR_PAGE_SESSION_COOKIE', logs: result.logs },
        ),
        { stats: { ...result.stats, outcome: 'ERR_PAGE_SESSION_COOKIE' } },
      );
    }
    // Everything the response will carry is made and checked with Node's and Express's own rules
    // before anything is applied: a page that cannot be sent as its script made it changes nothing.
    try {
      setCookies = result.cookies.flatMap((change) => setCookieHeaders(res, change));
      headers = Object.entries(result.headers);
      for (const value of setCookies) http.validateHeaderValue('set-cookie', value);
      for (const [name, value] of headers) {
        http.validateHeaderName(name);
        http.validateHeaderValue(name, value);
      }
    } catch (cause) {
      throw Object.assign(
        new ScriptError(`the page's response cannot be sent as its script made it: ${cause.message}`, {
          code: 'ERR_PAGE_RESPONSE',
          logs: result.logs,
        }),
        { cause, stats: { ...result.stats, outcome: 'ERR_PAGE_RESPONSE' } },
      );
    }
  } catch (error) {
    if (!result && config.onLogs && error?.logs?.length > 0) config.onLogs(error.logs, { page: page.file, req });
    pageError(error, page.file);
    if (config.onError) {
      const { code = null, line = null, column = null } = error ?? {};
      await config.onError(error, { page: page.file, req, code, line, column });
    }
    // A busy executor would be as busy rendering the template: the 503 says to try again.
    if (config.onScriptError !== 'render' || !(error instanceof ScriptError) || error.code === 'ERR_SCRIPT_BUSY') throw error;
    // Failing open: the template alone, with the page's own variables; nothing of the script.
    const fallback = await renderTemplate(page.html, { request: context.request, variables: context.variables }, limits).catch((failed) => {
      throw pageError(failed, page.file);
    });
    res.status(200);
    for (const [name, value] of Object.entries(fallback.headers)) res.setHeader(name, value);
    res.send(fallback.body);
    return { stats: error.stats, failure: error };
  }
  if (result.sessionChanged) applySession(req, result.sessionChanges);
  for (const value of setCookies) res.append('Set-Cookie', value);
  res.status(result.status);
  for (const [name, value] of headers) res.setHeader(name, value);
  // A redirect has no body; everything else goes through res.send for HEAD, ETag and freshness.
  if (result.body === '') res.end();
  else res.send(result.body);
  return { stats: result.stats, failure: null };
}

/** The record of an execution that never ran, or failed outside the addon. */
const NO_STATS = Object.freeze({
  outcome: 'ok',
  durationMs: 0,
  cpuMs: 0,
  peakMemoryBytes: 0,
  queueMs: 0,
  httpWaitMs: 0,
  httpRequests: 0,
  requests: Object.freeze([]),
  hostWaitMs: 0,
  hostCalls: Object.freeze([]),
});

/**
 * Hands onExecution the record of a page served: the addon's record (`stats`), the page and the
 * outcome. A failure of onExecution itself never reaches the visitor: it is emitted as a warning.
 */
function report(config, page, req, stats, error) {
  if (!config.onExecution) return;
  const outcome = error ? (typeof error.code === 'string' ? error.code : 'error') : 'ok';
  const record = { ...NO_STATS, ...(stats && typeof stats === 'object' ? stats : {}), page: page.file, outcome };
  const warn = (thrown) =>
    process.emitWarning(`backendScripts: onExecution threw for ${page.file}: ${thrown?.stack ?? thrown}`, {
      code: 'BACKEND_SCRIPTS_ON_EXECUTION',
    });
  try {
    const returned = config.onExecution(record, { req, error });
    if (returned && typeof returned.then === 'function') returned.then(undefined, warn);
  } catch (thrown) {
    warn(thrown);
  }
}

function validate(options) {
  if (options === null || typeof options !== 'object') {
    throw typeError('options', 'an object', options);
  }
  const {
    root,
    proxy = null,
    limits = null,
    variables = null,
    functions = null,
    modules = null,
    index = 'index.html',
    extensions = ['html'],
    sessionCookieName = 'connect.sid',
    onLogs = null,
    onExecution = null,
    onError = null,
    onScriptError = 'next',
  } = options;
  if (typeof root !== 'string' || root === '') throw typeError('options.root', 'a non-empty string', root);
  const realRoot = folder(root, 'options.root');
  if (proxy !== null && typeof proxy !== 'object' && typeof proxy !== 'function') {
    throw typeError('options.proxy', 'a ProxyConfig object, a function or null', proxy);
  }
  if (limits !== null && typeof limits !== 'object' && typeof limits !== 'function') {
    throw typeError('options.limits', 'a RunOptions object, a function or null', limits);
  }
  if (variables !== null && typeof variables !== 'object' && typeof variables !== 'function') {
    throw typeError('options.variables', 'an object, a function or null', variables);
  }
  if (functions !== null && typeof functions !== 'object' && typeof functions !== 'function') {
    throw typeError('options.functions', 'an object of functions, a function or null', functions);
  }
  if (modules !== null && (typeof modules !== 'string' || modules === '')) {
    throw typeError('options.modules', 'the path of a folder or null', modules);
  }
  if (onLogs !== null && typeof onLogs !== 'function') throw typeError('options.onLogs', 'a function or null', onLogs);
  if (onExecution !== null && typeof onExecution !== 'function') throw typeError('options.onExecution', 'a function or null', onExecution);
  if (onError !== null && typeof onError !== 'function') throw typeError('options.onError', 'a function or null', onError);
  if (!ON_SCRIPT_ERROR.has(onScriptError)) {
    throw Object.assign(
      new TypeError(
        `backendScripts: options.onScriptError must be 'next' or 'render'. Received ${JSON.stringify(onScriptError) ?? typeof onScriptError}`,
      ),
      { code: 'ERR_INVALID_ARG_VALUE' },
    );
  }
  if (typeof index !== 'string' || !isPlainName(index)) throw typeError('options.index', 'a file name', index);
  if (
    !Array.isArray(extensions) ||
    extensions.length === 0 ||
    !extensions.every((e) => typeof e === 'string' && /^[A-Za-z0-9]+$/.test(e))
  ) {
    throw typeError('options.extensions', 'a non-empty array of extensions without dots, such as ["html"]', extensions);
  }
  if (typeof sessionCookieName !== 'string' || sessionCookieName === '') {
    throw typeError('options.sessionCookieName', 'a non-empty string', sessionCookieName);
  }
  return {
    root: realRoot,
    proxy,
    limits,
    variables,
    functions,
    modules: modules === null ? null : new ModuleFolder(folder(modules, 'options.modules')),
    index,
    extensions: extensions.map((e) => `.${e}`),
    sessionCookieName,
    onLogs,
    onExecution,
    onError,
    onScriptError,
  };
}

/** A folder that must exist, as its real path. */
function folder(given, name) {
  let real;
  try {
    real = fs.realpathSync(path.resolve(given));
  } catch (error) {
    throw Object.assign(new Error(`backendScripts: the folder ${JSON.stringify(given)} (${name}) cannot be opened: ${error.message}`), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
  }
  if (!fs.statSync(real).isDirectory()) {
    throw Object.assign(new Error(`backendScripts: ${name} ${JSON.stringify(given)} is not a folder`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return real;
}

/**
 * An option that may be a function of the request (so that one process serves many sites, each
 * with its own proxy credentials and limits): its value for this request, checked.
 */
async function perRequest(option, name, expected, req, res) {
  if (typeof option !== 'function') return option;
  const value = (await option(req, res)) ?? null;
  if (typeof value !== 'object' || Array.isArray(value)) throw typeError(`${name}(req, res)`, `${expected} (or a promise of one)`, value);
  return value;
}

function typeError(name, expected, received) {
  const shown = received === null ? 'null' : Array.isArray(received) ? 'an array' : typeof received;
  return Object.assign(new TypeError(`backendScripts: ${name} must be ${expected}. Received ${shown}`), { code: 'ERR_INVALID_ARG_TYPE' });
}

function isPlainName(name) {
  return name !== '' && !name.startsWith('.') && !/[/\\\0]/.test(name);
}

/**
 * The files a URL path may name, relative to the root, in the order they are tried; empty when the
 * path is not one this middleware may serve: a `..` or `.` segment, an encoded slash or backslash,
 * a NUL, an empty segment, or any segment that starts with a dot.
 */
function candidates(urlPath, { index, extensions }) {
  if (typeof urlPath !== 'string' || !urlPath.startsWith('/')) return [];
  const segments = urlPath.slice(1).split('/');
  const directory = segments[segments.length - 1] === '';
  if (directory) segments.pop();
  const names = [];
  for (const raw of segments) {
    let name;
    try {
      name = decodeURIComponent(raw);
    } catch {
      return [];
    }
    if (!isPlainName(name)) return [];
    names.push(name);
  }
  if (directory) return [[...names, index]];
  if (names.length === 0) return [];
  const last = names[names.length - 1];
  if (extensions.some((ext) => last.toLowerCase().endsWith(ext) && last.length > ext.length)) return [names];
  return extensions.map((ext) => [...names.slice(0, -1), last + ext]);
}

/** Whether `file` (a real path) is the folder `dir` or inside it. */
function within(dir, file) {
  return file === dir || file.startsWith(dir + path.sep);
}

/** Reads pages under the root, keeping each in memory until its file changes. */
class PageFiles {
  constructor(root, modulesDir) {
    this.root = root;
    // The shared modules' folder may sit among the pages; nothing in it is ever a page.
    this.modulesDir = modulesDir;
    this.cache = new Map();
  }

  /** The first candidate that is a file inside the root (symlinks resolved), read; or null. */
  async find(candidates) {
    for (const names of candidates) {
      const page = await this.read(path.join(this.root, ...names));
      if (page) return page;
    }
    return null;
  }

  async read(file) {
    let real;
    let stat;
    try {
      real = await fsp.realpath(file);
      if (!within(this.root, real)) return null;
      if (this.modulesDir && within(this.modulesDir, real)) return null;
      stat = await fsp.stat(real, { bigint: true });
    } catch (error) {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR' || error.code === 'ELOOP') return null;
      throw error;
    }
    if (!stat.isFile()) return null;
    const version = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
    const cached = this.cache.get(real);
    if (cached && cached.version === version) return cached;
    const page = { file: path.relative(this.root, real), html: await fsp.readFile(real, 'utf8'), version };
    this.cache.delete(real);
    if (this.cache.size >= MAX_CACHED_PAGES) this.cache.delete(this.cache.keys().next().value);
    this.cache.set(real, page);
    return page;
  }
}

/** What the script sees of the request. The session cookie is left out: a script never sees it. */
function requestOf(req, { sessionCookieName }) {
  const url = req.originalUrl ?? req.url;
  const headers = { ...req.headers };
  const cookies = { ...(req.cookies && typeof req.cookies === 'object' ? req.cookies : parseCookies(req.headers.cookie)) };
  delete cookies[sessionCookieName];
  if (typeof headers.cookie === 'string') {
    headers.cookie = headers.cookie
      .split(';')
      .filter((part) => part.split('=')[0].trim() !== sessionCookieName)
      .join(';')
      .trim();
    if (headers.cookie === '') delete headers.cookie;
  }
  return {
    method: req.method,
    url,
    path: url.split('?')[0],
    query: plain(req.query),
    params: plain(req.params),
    headers,
    cookies,
    body: req.body === undefined ? null : req.body,
    ip: req.ip ?? '',
  };
}

function plain(value) {
  return value && typeof value === 'object' ? { ...value } : {};
}

/** The `Cookie` header as name → value; the first of repeated names wins, as in `cookie-parser`. */
function parseCookies(header) {
  const cookies = {};
  if (typeof header !== 'string') return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length > 1) value = value.slice(1, -1);
    if (name === '' || name === '__proto__' || Object.hasOwn(cookies, name)) continue;
    try {
      cookies[name] = decodeURIComponent(value);
    } catch {
      cookies[name] = value;
    }
  }
  return cookies;
}

/** The visitor's session as the script may see it: express-session's own fields left out. */
function sessionOf(req) {
  const session = req.session;
  if (!session || typeof session !== 'object') return {};
  const copy = {};
  for (const key of Object.keys(session)) {
    if (isSessionOwn(session, key)) continue;
    copy[key] = session[key];
  }
  return JSON.parse(JSON.stringify(copy));
}

function isSessionOwn(session, key) {
  return SESSION_OWN.has(key) || key in Object.prototype || typeof session[key] === 'function';
}

/** Applies the keys the script set or deleted; keys it left alone keep whatever they have now. */
function applySession(req, { set, deleted }) {
  const session = req.session;
  if (!session || typeof session !== 'object') return;
  for (const [key, value] of Object.entries(set)) if (!isSessionOwn(session, key)) session[key] = value;
  for (const key of deleted) if (!isSessionOwn(session, key)) delete session[key];
}

/**
 * The Set-Cookie header values for one cookie change, made by the app's own res.cookie and
 * res.clearCookie (so its Express version's encoding and checks apply) without touching `res`.
 */
function setCookieHeaders(res, { name, value, options }) {
  const attributes = {};
  for (const [key, v] of Object.entries(options ?? {})) if (v !== null && v !== undefined) attributes[key] = v;
  const made = [];
  const collector = { req: res.req, cookie: res.cookie, append: (_field, v) => made.push(...[v].flat()) };
  if (value === null) {
    delete attributes.maxAge;
    res.clearCookie.call(collector, name, attributes);
  } else {
    res.cookie.call(collector, name, value, attributes);
  }
  return made;
}

/** Marks an error for Express's error handlers: a 503 when busy, a 500 otherwise, never exposed. */
function pageError(error, file) {
  if (error && typeof error === 'object') {
    error.status = error.statusCode = error.code === 'ERR_SCRIPT_BUSY' ? 503 : 500;
    error.expose = false;
    error.page = file;
  }
  return error;
}

module.exports = { backendScripts, candidates, parseCookies };

'use strict';

// The demo's playground: GET /playground is a page where a visitor writes a backend page (script
// and template), chooses the request and the session, and runs it; POST /playground/run runs it
// with renderPage, through the demo's egress proxy, under tight limits, and answers with the whole
// result. Nothing a run does reaches the visitor's own session or cookies.
//
// The playground runs code from whoever can reach it, so it trusts nothing it is sent: the input
// is validated field by field, its size is capped, runs are few at a time, and its scripts reach
// the network only through a gate in front of the egress proxy that lets through the token API
// alone (the egress policy opens all of 127.0.0.0/8 for the demo, which holds more than that API),
// and then with a credential of their own, rate-limited at the proxy. The proxy's per-credential
// `allowedHosts` cannot replace the gate: it matches host names, never an address literal such as
// the API's 127.0.0.1, and says nothing of ports, while the gate allows one origin (host and port:
// not the demo site on the same address) and caps what is sent.

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const express = require('express');
const { renderPage } = require('..');

/** The most a run request may weigh, and each source field within it. */
const MAX_BODY_BYTES = 64 * 1024;
const MAX_SOURCE_CHARS = 16 * 1024;
/** Runs at once; past it the playground answers 503 rather than queueing. */
const MAX_RUNNING = 4;

/** Limits of a playground run: far below a site's, since anyone who reaches the page can run code. */
const LIMITS = {
  cpuTimeMs: 250,
  wallTimeMs: 5000,
  memoryLimitBytes: 16 * 1024 * 1024,
  maxStackBytes: 256 * 1024,
  maxOutputBytes: 256 * 1024,
};
const HTTP_LIMITS = { maxRequests: 3, timeoutMs: 3000, maxResponseBytes: 64 * 1024, maxRedirects: 2 };
/** The largest body a playground script may send; the gate refuses a larger one before it is read. */
const MAX_SENT_BYTES = 16 * 1024;

/** An error in what the client sent: `status` and a stable `code`, and a message in plain words. */
class PlaygroundError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
const invalid = (message) => new PlaygroundError(400, 'ERR_PLAYGROUND_INPUT', message);

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`.slice(0, 60);
}
const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

function onlyKeys(object, name, known) {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) throw invalid(`${name} has an unknown field "${key}" (known: ${known.join(', ')})`);
  }
}

function source(value, name) {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw invalid(`${name} must be a string, not ${describe(value)}`);
  if (value.length > MAX_SOURCE_CHARS)
    throw invalid(`${name} is ${value.length} characters long; the playground takes at most ${MAX_SOURCE_CHARS}`);
  return value;
}

function stringMap(value, name, { arrays = false } = {}) {
  if (value === undefined) return {};
  if (!isObject(value)) throw invalid(`${name} must be an object of strings, not ${describe(value)}`);
  for (const [key, v] of Object.entries(value)) {
    const ok = typeof v === 'string' || (arrays && Array.isArray(v) && v.every((s) => typeof s === 'string'));
    if (!ok) throw invalid(`${name}.${key} must be a string${arrays ? ' or an array of strings' : ''}, not ${describe(v)}`);
  }
  // A copy made of own data properties: a "__proto__" key stays a key, never a prototype.
  return Object.fromEntries(Object.entries(value));
}

/**
 * Reads a run request: `{ script, template, request: { method, query, body, cookies }, session }`,
 * every part optional. Throws a PlaygroundError naming the first field at fault.
 */
function parseRun(input) {
  if (!isObject(input)) throw invalid(`the request body must be a JSON object, not ${describe(input)}`);
  onlyKeys(input, 'the request body', ['script', 'template', 'request', 'session']);
  const script = source(input.script, 'script');
  // The page is put together as one backend block and the template: a script that closed the
  // block itself would turn the rest of it into template.
  if (/<\/script/i.test(script)) throw invalid(`script must not contain "</script"; in a string, write "<\\/script" instead`);
  const template = source(input.template, 'template');

  const req = input.request ?? {};
  if (!isObject(req)) throw invalid(`request must be an object, not ${describe(req)}`);
  onlyKeys(req, 'request', ['method', 'query', 'body', 'cookies']);
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'POST') throw invalid(`request.method must be "GET" or "POST", not ${describe(method)}`);
  const query = stringMap(req.query, 'request.query', { arrays: true });
  const cookies = stringMap(req.cookies, 'request.cookies');
  const body = req.body ?? null;
  if (method === 'GET' && body !== null) throw invalid('request.body must be empty for a GET request; choose POST to send one');

  const session = input.session ?? {};
  if (!isObject(session)) throw invalid(`session must be an object, not ${describe(session)}`);
  return { script, template, request: { method, query, cookies, body }, session };
}

/** The page a run renders: the script as its one backend block, then the template. */
function pageOf({ script, template }) {
  return `<script scope="backend">\n${script}\n</script>\n${template}`;
}

/** Where a page line falls: in the script (from its line 2) or in the template (after the block). */
function partOf(pageLine, script) {
  if (pageLine == null) return null;
  const scriptLines = script.split('\n').length;
  if (pageLine >= 2 && pageLine <= scriptLines + 1) return { part: 'script', line: pageLine - 1 };
  if (pageLine > scriptLines + 2) return { part: 'template', line: pageLine - scriptLines - 2 };
  return null;
}

/**
 * A gate in front of the egress proxy for the playground's scripts: an HTTP forward proxy that
 * passes requests for `allowedOrigin` on to the egress proxy (which judges them again) and
 * refuses everything else, the way the egress proxy refuses (403 with X-Egress-Denied and a rule
 * the client knows, `not-allowed-host`), so that scripts see the refusal as an `error`.
 */
function startGate({ egressUrl, egressCredentials, allowedOrigin }) {
  const own = { username: 'playground', password: crypto.randomBytes(16).toString('hex') };
  const expected = Buffer.from(`Basic ${Buffer.from(`${own.username}:${own.password}`).toString('base64')}`);
  const upstreamAuth = `Basic ${Buffer.from(`${egressCredentials.username}:${egressCredentials.password}`).toString('base64')}`;
  const egress = new URL(egressUrl);
  const authorized = (req) => {
    const given = Buffer.from(req.headers['proxy-authorization'] ?? '');
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  };
  const refuse = (res, status, headers, reason) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close', ...headers });
    res.end(reason);
  };

  const server = http.createServer((req, res) => {
    if (!authorized(req)) return refuse(res, 407, { 'proxy-authenticate': 'Basic realm="playground"' }, 'proxy credentials required');
    let target;
    try {
      target = new URL(req.url);
    } catch {
      return refuse(res, 400, {}, 'the request target must be an absolute URL');
    }
    if (target.origin !== allowedOrigin) {
      return refuse(
        res,
        403,
        { 'x-egress-denied': 'not-allowed-host' },
        `the playground's scripts may reach only the demo's token API (${allowedOrigin})`,
      );
    }
    const length = Number(req.headers['content-length'] ?? 0);
    if (req.headers['transfer-encoding'] !== undefined || !(length <= MAX_SENT_BYTES)) {
      return refuse(res, 400, { 'x-egress-error': 'bad-request' }, `the playground's scripts may send at most ${MAX_SENT_BYTES} bytes`);
    }
    const headers = { ...req.headers, 'proxy-authorization': upstreamAuth };
    for (const name of ['connection', 'keep-alive', 'proxy-connection']) delete headers[name];
    const upstream = http.request({ host: egress.hostname, port: egress.port, method: req.method, path: req.url, headers, agent: false });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) refuse(res, 502, { 'x-egress-error': 'upstream-failed' }, 'the egress proxy could not be reached');
      else res.destroy();
    });
    req.pipe(upstream);
  });
  // https:// targets come as CONNECT tunnels; the token API is plain http, so none is let through.
  server.on('connect', (req, socket) => {
    socket.on('error', () => {});
    socket.end(
      `HTTP/1.1 403 Forbidden\r\nx-egress-denied: not-allowed-host\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n` +
        `the playground's scripts may reach only the demo's token API (${allowedOrigin})`,
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        credentials: own,
        close: () => {
          server.closeAllConnections();
          return new Promise((r) => server.close(r));
        },
      });
    });
  });
}

/** The Host values the playground answers to: this machine's loopback names, on its own port. */
function sameMachineHost(req) {
  const port = req.socket.localPort;
  return [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`].includes(req.headers.host);
}

/**
 * The playground's routes. `proxy` is the ProxyConfig of its scripts (the gate's), `variables`
 * what every run starts with (the demo's validateUrl).
 */
function playground({ proxy, variables }) {
  const router = express.Router();
  const html = fs.readFileSync(path.join(__dirname, 'playground.html'), 'utf8');
  let running = 0;

  router.get('/playground', (req, res) => {
    res
      .set({
        'content-security-policy':
          "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        'x-content-type-options': 'nosniff',
      })
      .type('html')
      .send(html);
  });

  router.post(
    '/playground/run',
    (req, res, next) => {
      // A page elsewhere in the visitor's browser can post here: only this origin, by its loopback
      // name (no DNS rebinding), with a JSON body (so a cross-site form cannot) is served.
      if (!sameMachineHost(req)) {
        return next(
          new PlaygroundError(
            403,
            'ERR_PLAYGROUND_HOST',
            `the playground answers only on this machine's loopback names, not at ${JSON.stringify(req.headers.host ?? '')}`,
          ),
        );
      }
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `http://${req.headers.host}`) {
        return next(
          new PlaygroundError(
            403,
            'ERR_PLAYGROUND_ORIGIN',
            `the playground runs pages only for its own origin, not for ${JSON.stringify(origin)}`,
          ),
        );
      }
      if (!req.is('application/json')) {
        return next(new PlaygroundError(415, 'ERR_PLAYGROUND_CONTENT_TYPE', 'send the run as JSON, with content-type: application/json'));
      }
      next();
    },
    express.json({ limit: MAX_BODY_BYTES, strict: false }),
    async (req, res, next) => {
      let run;
      try {
        run = parseRun(req.body);
      } catch (error) {
        return next(error);
      }
      if (running >= MAX_RUNNING) {
        return next(
          new PlaygroundError(
            503,
            'ERR_PLAYGROUND_BUSY',
            `the playground runs at most ${MAX_RUNNING} pages at once; try again in a moment`,
          ),
        );
      }
      running++;
      try {
        const search = new URLSearchParams();
        for (const [key, value] of Object.entries(run.request.query)) for (const v of [value].flat()) search.append(key, v);
        const url = `/playground/page${search.size ? `?${search}` : ''}`;
        const context = {
          request: {
            method: run.request.method,
            url,
            path: '/playground/page',
            query: run.request.query,
            headers: { host: req.headers.host, 'user-agent': req.headers['user-agent'] ?? '' },
            cookies: run.request.cookies,
            body: run.request.body,
            ip: '127.0.0.1',
          },
          session: run.session,
          variables,
        };
        const result = await renderPage(pageOf(run), context, proxy, LIMITS);
        res.json({ ok: true, ...result });
      } catch (error) {
        if (typeof error.code === 'string' && error.code.startsWith('ERR_INVALID_ARG')) {
          // The addon refused part of the input (a session too deeply nested, …): the client's fault.
          return next(invalid(error.message));
        }
        const where = partOf(error.line, run.script);
        // The addon counts lines in the page the playground put together; the visitor wrote two parts.
        const message = where
          ? error.message.replace(new RegExp(`\\bline ${error.line}\\b`), `${where.part} line ${where.line}`)
          : error.message;
        res.json({
          ok: false,
          error: {
            code: error.code ?? 'ERR_PLAYGROUND_INTERNAL',
            message,
            pageLine: error.line ?? null,
            column: error.column ?? null,
            ...where,
          },
          logs: error.logs ?? [],
        });
      } finally {
        running--;
      }
    },
  );

  // Errors of the run API as JSON, with their code: what body-parser refuses included.
  router.use('/playground/run', (error, req, res, _next) => {
    let failure = error;
    if (error.type === 'entity.too.large') {
      failure = new PlaygroundError(413, 'ERR_PLAYGROUND_TOO_LARGE', `the run is larger than ${MAX_BODY_BYTES / 1024} KiB`);
    } else if (error.type === 'entity.parse.failed') {
      failure = invalid(`the request body is not valid JSON: ${error.message}`);
    } else if (!(error instanceof PlaygroundError)) {
      failure = new PlaygroundError(400, 'ERR_PLAYGROUND_INPUT', `the request could not be read: ${error.message}`);
    }
    res.status(failure.status).json({ error: { code: failure.code, message: failure.message } });
  });
  return router;
}

module.exports = { playground, startGate, HTTP_LIMITS };

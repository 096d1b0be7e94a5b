'use strict';

// The HTTP(S) server that scripts under test talk to, on 127.0.0.1 only.
const http = require('node:http');
const https = require('node:https');
const zlib = require('node:zlib');
const { getTls } = require('./tls');

const CHUNK = Buffer.alloc(64 * 1024, 'a');
const GZIP_BOMB_INFLATED_BYTES = 100 * 1024 * 1024;

let gzipBomb;
// ~100 KB of gzip that inflates to 100 MiB of zeros; made on first use, then reused.
function gzipBombBody() {
  gzipBomb ??= zlib.gzipSync(Buffer.alloc(GZIP_BOMB_INFLATED_BYTES), { level: 9 });
  return gzipBomb;
}

function sendText(res, status, text, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function nonNegativeInt(params, name, fallback) {
  const value = Number.parseInt(params.get(name) ?? '', 10);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

// Runs `callback` after `ms`, unless the client goes away first.
function afterDelay(res, ms, callback) {
  const timer = setTimeout(callback, ms);
  res.on('close', () => clearTimeout(timer));
}

// Writes `bytes` of 'a' (Infinity for no end) in 64 KiB writes, waiting for 'drain'
// when the client reads slowly and stopping when it goes away.
function streamBytes(res, bytes) {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  let left = bytes;
  let gone = false;
  res.on('close', () => (gone = true));
  const pump = () => {
    while (left > 0 && !gone) {
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!gone) res.end();
  };
  pump();
}

function tokenFrom(req, body) {
  if ((req.headers['content-type'] ?? '').includes('json')) {
    try {
      return JSON.parse(body)?.token;
    } catch {
      return undefined;
    }
  }
  return new URLSearchParams(body).get('token');
}

function route(req, res, body) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const params = url.searchParams;
  const get = req.method === 'GET' || req.method === 'HEAD';
  let match;

  if (url.pathname === '/echo') {
    return sendJson(res, 200, { method: req.method, url: req.url, headers: req.headers, body });
  }
  if (url.pathname === '/auth/validate' && req.method === 'POST') {
    return tokenFrom(req, body) === 'good-token'
      ? sendJson(res, 200, { valid: true, user: { name: 'Ada', email: 'ada@example.com' } })
      : sendJson(res, 401, { valid: false });
  }
  if (!get) return sendText(res, 405, 'method not allowed');

  if (url.pathname === '/json') return sendJson(res, 200, { ok: true, items: [1, 2, 3] });
  if (url.pathname === '/impersonate') {
    // A destination answering as if it were the egress proxy refusing or failing.
    return sendText(res, nonNegativeInt(params, 'status', 403), 'the egress proxy refused this (not really)\n', {
      'x-egress-denied': params.get('denied') ?? 'blocked-address',
      'x-egress-error': params.get('error') ?? 'resolve-failed',
      'proxy-authenticate': 'Basic realm="fake"',
    });
  }
  if ((match = /^\/status\/(\d{3})$/.exec(url.pathname))) {
    const code = Number(match[1]);
    return code >= 200 && code <= 599 ? sendText(res, code, `status ${code}`) : sendText(res, 400, 'status must be 200-599');
  }
  if (url.pathname === '/headers') {
    res.setHeader('set-cookie', ['session=abc123; Path=/; HttpOnly', 'theme=dark; Path=/']);
    res.setHeader('x-multi', ['one', 'two']);
    return sendJson(res, 200, req.headers);
  }
  if (url.pathname === '/slow') {
    return afterDelay(res, nonNegativeInt(params, 'ms', 0), () => sendText(res, 200, 'slow done'));
  }
  if (url.pathname === '/trickle') {
    const ms = nonNegativeInt(params, 'ms', 100);
    let chunks = nonNegativeInt(params, 'chunks', 10);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.flushHeaders();
    if (chunks === 0) return res.end();
    const timer = setInterval(() => {
      res.write('x');
      if (--chunks === 0) {
        clearInterval(timer);
        res.end();
      }
    }, ms);
    return res.on('close', () => clearInterval(timer));
  }
  if (url.pathname === '/interim-flood') {
    // `100 Continue` without end and never a final response, written straight to the socket (TLS
    // included): what no body limit sees.
    const chunk = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'.repeat(2048));
    const socket = res.socket;
    const pump = () => {
      while (!socket.destroyed && socket.write(chunk));
      if (!socket.destroyed) socket.once('drain', pump);
    };
    return pump();
  }
  if (url.pathname === '/huge') return streamBytes(res, nonNegativeInt(params, 'bytes', 0));
  if (url.pathname === '/endless') return streamBytes(res, Infinity);
  if (url.pathname === '/gzip-bomb') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' });
    return res.end(gzipBombBody());
  }
  if (url.pathname === '/empty-deflate') {
    // A zlib stream of empty stored blocks, without end: bytes on the wire that decode to nothing.
    res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'deflate' });
    res.write(Buffer.from([0x78, 0x01]));
    const blocks = Buffer.alloc(64 * 1024 - ((64 * 1024) % 5));
    for (let i = 0; i < blocks.length; i += 5) blocks.set([0x00, 0x00, 0x00, 0xff, 0xff], i);
    let gone = false;
    res.on('close', () => (gone = true));
    const pump = () => {
      while (!gone) if (!res.write(blocks)) return res.once('drain', pump);
    };
    return pump();
  }
  const encoded = { '/gzip-text': zlib.gzipSync, '/deflate-text': zlib.deflateSync, '/raw-deflate-text': zlib.deflateRawSync }[
    url.pathname
  ];
  if (encoded) {
    const coding = url.pathname === '/gzip-text' ? 'gzip' : 'deflate';
    res.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8',
      'content-encoding': coding,
      'x-accept-encoding': req.headers['accept-encoding'] ?? '',
    });
    return res.end(encoded(Buffer.from(`hello ${url.pathname.slice(1)} é`)));
  }
  if (url.pathname === '/redirect') {
    const status = nonNegativeInt(params, 'status', 302);
    if (status < 300 || status > 399) return sendText(res, 400, 'status must be 300-399');
    res.writeHead(status, { location: params.get('to') ?? '/' });
    return res.end();
  }
  if ((match = /^\/redirect-chain\/(\d+)$/.exec(url.pathname))) {
    const n = Number(match[1]);
    if (n === 0) return sendText(res, 200, 'chain end');
    res.writeHead(302, { location: `/redirect-chain/${n - 1}` });
    return res.end();
  }
  if (url.pathname === '/utf8-invalid') {
    return sendText(res, 200, Buffer.concat([Buffer.from('ok '), Buffer.from([0xff, 0xfe]), Buffer.from(' end')]));
  }
  return sendText(res, 404, 'not found');
}

/**
 * Starts the upstream test server on 127.0.0.1 at a free port.
 * @param {{ tls?: boolean }} [options] serve HTTPS with the certificate from ./tls
 * @returns {Promise<{ url: string, port: number, hits: Array<{ method: string, url: string, headers: object, body: string }>, close(): Promise<void> }>}
 */
async function startUpstream({ tls = false } = {}) {
  const hits = [];
  const handler = (req, res) => {
    const parts = [];
    req.on('data', (part) => parts.push(part));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      hits.push({ method: req.method, url: req.url, headers: req.headers, body });
      try {
        route(req, res, body);
      } catch (error) {
        // A bug here should fail the test that hit it, not crash the Jest worker.
        if (!res.headersSent) sendText(res, 500, `upstream test server error: ${error.message}`);
        else res.destroy();
      }
    });
  };
  let server;
  if (tls) {
    const { certPem, keyPem } = await getTls();
    server = https.createServer({ cert: certPem, key: keyPem }, handler);
  } else {
    server = http.createServer(handler);
  }

  // Tracked so close() can cut streams that would otherwise never end.
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

module.exports = { startUpstream, gzipBombBody, GZIP_BOMB_INFLATED_BYTES };

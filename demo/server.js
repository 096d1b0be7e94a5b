'use strict';

// The demo site: `npm run demo`. Starts, on localhost only,
//   - a token-validation API (POST /validate: 200 for the token "good-token", 401 otherwise),
//   - the package's own egress proxy, which the pages' scripts must go through to reach it,
//   - an Express site with express-session that serves demo/pages with backendScripts(), its
//     stylesheet, the playground (/playground), where a visitor writes and runs a page, and
//     Prometheus metrics of the pages' executions (/metrics, see metrics.js),
// and prints the URLs to open. PORT chooses the site's port (default 3000; 0 for any free one).
// Everything listens on 127.0.0.1 only: the playground runs the code it is sent.

const crypto = require('node:crypto');
const http = require('node:http');
const path = require('node:path');
const express = require('express');
const session = require('express-session');
const { backendScripts, startEgressProxy } = require('..');
const { playground, startGate, HTTP_LIMITS } = require('./playground.js');
const { pageMetrics } = require('./metrics.js');
const { guestbook } = require('./guestbook.js');

/** The token-validation API: the kind of service a page checks a visitor's token against. */
function startValidationApi() {
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/validate') {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end('{"error":"not found"}');
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      // A token fits in far less; reading more would let one request fill the demo's memory.
      if (body.length > 16 * 1024) {
        res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
        res.end('{"error":"body too large"}');
        req.destroy();
      }
    });
    req.on('end', () => {
      if (res.headersSent) return;
      let token;
      try {
        token = JSON.parse(body).token;
      } catch {
        token = undefined;
      }
      const valid = token === 'good-token';
      res.writeHead(valid ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(valid ? { valid: true, user: { name: 'Ada' } } : { valid: false }));
    });
  });
  return listen(server, 0);
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * Starts everything; resolves with the site's URL and a close() that stops it all.
 * @param {{ port?: number }} [options]
 */
async function startDemo({ port = 3000 } = {}) {
  const api = await startValidationApi();
  const apiUrl = `http://127.0.0.1:${api.address().port}`;

  // Fresh credentials for every run: only this process knows them.
  const credentials = { username: 'demo', password: crypto.randomBytes(16).toString('hex') };
  // The playground's scripts have a credential of their own: their decisions are told apart from
  // the pages', and the proxy holds them to a rate (a run makes at most 3 requests, 4 run at once).
  const playgroundCredentials = {
    username: 'playground',
    password: crypto.randomBytes(16).toString('hex'),
    maxConcurrent: 4,
    maxRequestsPerMinute: 600,
  };
  const proxy = await startEgressProxy({ credentials: [credentials, playgroundCredentials], allowedRanges: ['127.0.0.0/8'] });

  // The playground's scripts go through a gate that lets only the token API through, then through
  // the same egress proxy as the pages' scripts.
  const gate = await startGate({ egressUrl: proxy.url, egressCredentials: playgroundCredentials, allowedOrigin: apiUrl });
  const variables = { validateUrl: `${apiUrl}/validate` };

  const metrics = pageMetrics();
  const app = express();
  app.use('/assets', express.static(path.join(__dirname, 'public'), { index: false }));
  // On a real site, serve metrics on an address only the monitoring system reaches.
  app.get('/metrics', metrics.handler);
  app.use(
    playground({
      proxy: { url: gate.url, ...gate.credentials, allowedRanges: ['127.0.0.0/8'], ...HTTP_LIMITS },
      variables,
    }),
  );
  app.use(session({ secret: crypto.randomBytes(32).toString('hex'), resave: false, saveUninitialized: false }));
  app.use(express.urlencoded({ extended: false }), express.json());
  app.use(
    backendScripts({
      root: path.join(__dirname, 'pages'),
      // The API is on loopback, which the egress policy blocks unless told otherwise: this is
      // the one range the demo opens, on both sides (the addon's check and the proxy's).
      proxy: { url: proxy.url, ...credentials, allowedRanges: ['127.0.0.0/8'] },
      limits: { cpuTimeMs: 500, wallTimeMs: 10000 },
      variables,
      modules: path.join(__dirname, 'modules'),
      functions: guestbook(),
      onLogs: (logs, { page }) => {
        for (const { level, message } of logs) console.log(`[${page}] console.${level}: ${message}`);
      },
      onExecution: metrics.onExecution,
    }),
  );
  app.use((req, res) => res.status(404).type('text').send('Not found'));
  // Errors are logged here and shown without detail: a production error page never shows a script.
  app.use((err, req, res, _next) => {
    console.error(`[${err.page ?? req.path}] ${err.code ?? 'error'}: ${err.message}`);
    res
      .status(err.status ?? 500)
      .type('text')
      .send('Something went wrong.');
  });

  const site = await listen(http.createServer(app), port);
  const url = `http://localhost:${site.address().port}`;
  return {
    url,
    apiUrl,
    proxyUrl: proxy.url,
    close: async () => {
      site.closeAllConnections();
      await Promise.all([new Promise((r) => site.close(r)), new Promise((r) => api.close(r)), gate.close(), proxy.close()]);
    },
  };
}

if (require.main === module) {
  const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT);
  startDemo({ port }).then(
    (demo) => {
      console.log(`backend-scripts demo running at ${demo.url}/`);
      console.log('');
      console.log('Open:');
      console.log(`  ${demo.url}/                         the pages and what they show`);
      console.log(`  ${demo.url}/welcome?token=good-token  token check: welcome, Ada (user stored in the session)`);
      console.log(`  ${demo.url}/welcome?token=bad-token   token check: 403`);
      console.log(`  ${demo.url}/welcome                   token check: no token, redirect to /login`);
      console.log(`  ${demo.url}/account                   the user the session carries`);
      console.log(`  ${demo.url}/visits                    a visit counter kept in the session`);
      console.log(`  ${demo.url}/guestbook                 a shared module and the site's own functions`);
      console.log(`  ${demo.url}/api/me                    a JSON endpoint (response.json)`);
      console.log(`  ${demo.url}/playground                write a page and run it`);
      console.log(`  ${demo.url}/metrics                   Prometheus metrics of the pages' executions`);
      console.log('');
      console.log(`Token API ${demo.apiUrl}/validate, reached only through the egress proxy ${demo.proxyUrl}.`);
      console.log('Press Ctrl-C to stop.');
      const stop = () => demo.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (error) => {
      console.error(`The demo could not start: ${error.message}`);
      if (error.code === 'EADDRINUSE') console.error('Another program uses that port; try PORT=3001 npm run demo.');
      process.exit(1);
    },
  );
}

module.exports = { startDemo };

'use strict';

// The site the end-to-end benchmark loads: Express with backendScripts(), in `--workers N` app
// processes sharing one port (node:cluster, as PM2's cluster mode runs them). The cluster's
// primary serves no page: it runs the egress proxy and the upstream the seed page calls, which
// answers after `--upstream-ms`. Prints `{"port":N}` once every worker listens.
//
//   node bench/e2e-site.js --workers 2 --upstream-ms 20

const cluster = require('node:cluster');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.join(__dirname, '..');
const CREDENTIALS = { username: 'bench-site', password: 'bench-site-secret' };

const PAGES = {
  // The floor: the same page as HTML, served by express.static.
  'static.html': '<!doctype html><title>Hello</title><h1>Hello, visitor</h1>\n',
  'trivial.html': `<!doctype html><title>Hello</title>
<script scope="backend">setVariable('name', 'visitor')</script><h1>Hello, {{ var.name }}</h1>
`,
  // The seed page: a token check that calls the validation API through the egress proxy.
  'seed.html': `<!doctype html><title>Welcome</title>
<script scope="backend">
  const check = http.post(getVariable('validateUrl'), { token: request.query.token });
  if (check.status !== 200) response.status(403);
  else setVariable('user_name', JSON.parse(check.body).user.name);
</script><h1>Welcome, {{ var.user_name }}</h1>
`,
};

async function primary({ workers, upstreamMs }) {
  const upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ valid: true, user: { name: 'Ada' } }));
      }, upstreamMs),
    );
  });
  await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const { startEgressProxy } = require(ROOT);
  const proxy = await startEgressProxy({ credentials: [CREDENTIALS], allowedRanges: ['127.0.0.0/8'], maxTunnelsPerClient: 4096 });

  const pages = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-scripts-e2e-'));
  for (const [name, html] of Object.entries(PAGES)) fs.writeFileSync(path.join(pages, name), html);
  const settings = {
    pages,
    proxy: { url: proxy.url, ...CREDENTIALS, allowedRanges: ['127.0.0.0/8'] },
    validateUrl: `http://127.0.0.1:${upstream.address().port}/validate`,
  };
  cluster.setupPrimary({ args: ['--worker', JSON.stringify(settings)] });
  // Workers that listen on port 0 in a cluster all get the same port.
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    listening += 1;
    if (listening === workers) process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  });
  for (let i = 0; i < workers; i += 1) cluster.fork();
  const stop = () => {
    for (const worker of Object.values(cluster.workers)) worker.kill();
    fs.rmSync(pages, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop).resume();
}

function worker(settings) {
  const express = require('express');
  const { backendScripts } = require(path.join(ROOT, 'lib'));
  const app = express();
  app.get('/static', express.static(settings.pages, { index: false, extensions: ['html'] }));
  app.use(
    backendScripts({
      root: settings.pages,
      proxy: settings.proxy,
      variables: { validateUrl: settings.validateUrl },
    }),
  );
  const server = app.listen(0, '127.0.0.1');
  server.keepAliveTimeout = 60_000;
}

const { values } = parseArgs({
  options: { workers: { type: 'string', default: '1' }, 'upstream-ms': { type: 'string', default: '20' }, worker: { type: 'string' } },
});
if (cluster.isPrimary) {
  primary({ workers: Number(values.workers), upstreamMs: Number(values['upstream-ms']) }).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  worker(JSON.parse(values.worker));
}

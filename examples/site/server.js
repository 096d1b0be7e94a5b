'use strict';

const path = require('node:path');
const express = require('express');
const session = require('express-session');
const { backendScripts, startEgressProxy } = require('backend-scripts');

// Refuse to start without the secrets, rather than fail on the first request.
const { SESSION_SECRET, EGRESS_PASSWORD } = process.env;
if (!SESSION_SECRET || !EGRESS_PASSWORD) {
  console.error('Set SESSION_SECRET and EGRESS_PASSWORD first, e.g. export SESSION_SECRET=$(openssl rand -hex 32)');
  process.exit(1);
}
// The API the pages check tokens with: a site-wide setting, given to scripts as a variable.
const AUTH_URL = process.env.AUTH_URL ?? 'https://auth.example.com/validate';
// Scripts may reach public addresses only. To let them reach an API on this machine or your
// network, lift its range on both the proxy and the client: e.g. ALLOWED_RANGES=127.0.0.0/8.
const allowedRanges = process.env.ALLOWED_RANGES ? process.env.ALLOWED_RANGES.split(',') : [];

async function main() {
  // #region embedded-proxy
  const proxy = await startEgressProxy({
    listen: '127.0.0.1:0',
    credentials: [{ username: 'site', password: EGRESS_PASSWORD }],
    allowedRanges,
    onDecision: (d) => d.allowed || console.warn(`egress refused ${d.target}: ${d.reason}`),
  });
  const app = express();
  app.use(session({ secret: SESSION_SECRET, resave: false, saveUninitialized: false }));
  app.use(express.urlencoded({ extended: false }), express.json());
  app.use(
    backendScripts({
      root: path.join(__dirname, 'pages'), // /welcome → pages/welcome.html
      proxy: { url: proxy.url, username: 'site', password: EGRESS_PASSWORD, allowedRanges },
      variables: { auth_url: AUTH_URL },
      limits: { cpuTimeMs: 500 },
      onLogs: (logs, { page }) => logs.forEach((l) => console.log(`${page} ${l.level}: ${l.message}`)),
    }),
  );
  // #endregion
  // A failed page: log it, and show the visitor no details.
  app.use((err, req, res, _next) => {
    console.error(`${req.path}: ${err.code ?? err.name}: ${err.message}`);
    res.status(err.status ?? 500).send('Something went wrong.');
  });
  const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
  });
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});

import path from 'node:path';
import express from 'express';
import session from 'express-session';
import { backendScripts, configure, executorStats, ScriptError, startEgressProxy } from 'backend-scripts';

const { SESSION_SECRET, EGRESS_PASSWORD } = process.env;
if (!SESSION_SECRET || !EGRESS_PASSWORD) {
  console.error('Set SESSION_SECRET and EGRESS_PASSWORD first, e.g. export SESSION_SECRET=$(openssl rand -hex 32)');
  process.exit(1);
}
const AUTH_URL = process.env.AUTH_URL ?? 'https://auth.example.com/validate';
const allowedRanges = process.env.ALLOWED_RANGES ? process.env.ALLOWED_RANGES.split(',') : [];

// At most 2 pages' scripts run at once; 100 more may wait, then pages fail with ERR_SCRIPT_BUSY (503).
configure({ maxConcurrency: 2, maxQueue: 100 });
const proxy = await startEgressProxy({
  listen: '127.0.0.1:0',
  credentials: [{ username: 'site', password: EGRESS_PASSWORD }],
  allowedRanges,
  onDecision: (d) => d.allowed || console.warn(`egress refused ${d.target}: ${d.reason}`),
});

const app = express();
app.use(session({ secret: SESSION_SECRET, resave: false, saveUninitialized: false }));
app.use(express.urlencoded({ extended: false }), express.json());
app.get('/healthz', (req, res) => res.json(executorStats()));
app.use(
  backendScripts({
    root: path.join(import.meta.dirname, 'pages'),
    proxy: { url: proxy.url, username: 'site', password: EGRESS_PASSWORD, allowedRanges },
    variables: { auth_url: AUTH_URL },
    limits: { cpuTimeMs: 500 },
    onLogs: (logs, { page }) => logs.forEach((l) => console.log(`${page} ${l.level}: ${l.message}`)),
  }),
);
app.use((err, req, res, _next) => {
  if (err instanceof ScriptError) console.error(`${err.page}:${err.line ?? '?'}: ${err.code}: ${err.message}`);
  else console.error(err);
  res.status(err.status ?? 500).send('Something went wrong.');
});
const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

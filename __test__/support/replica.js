'use strict';

// One replica of a site, as a process of its own: Express, express-session with its sessions in
// Redis (connect-redis and the redis client), backendScripts() with its scripts' HTTP going
// through the standalone egress proxy. Every replica started with the same settings serves the
// same site: a visitor's requests may go to any of them.
//
//   node replica.js '{"root","redisUrl","proxy":{url,username,password},"validateUrl"}'
//
// Prints `{"port":N}` once it listens; on SIGTERM it stops taking connections, finishes the
// requests under way, closes its Redis connection and exits 0.
const express = require('express');
const session = require('express-session');
const { RedisStore } = require('connect-redis');
const { createClient } = require('redis');
const { backendScripts } = require('../../lib');

async function main() {
  const { root, redisUrl, proxy, validateUrl } = JSON.parse(process.argv[2]);
  const redis = createClient({ url: redisUrl });
  redis.on('error', (error) => process.stderr.write(`replica ${process.pid}: redis: ${error.message}\n`));
  await redis.connect();

  const app = express();
  app.use(
    session({
      store: new RedisStore({ client: redis, prefix: 'session:' }),
      secret: 'replicas share this secret',
      resave: false,
      saveUninitialized: false,
    }),
  );
  // A counter that must stay right when one visitor's requests run at once on several replicas:
  // kept in Redis and changed with one atomic INCR, never read, changed and written back through
  // the session (express-session saves a whole session per request: the last save wins).
  app.use('/visit', async (req, res, next) => {
    try {
      req.visits = req.session.user ? await redis.incr(`visits:${req.sessionID}`) : null;
      next();
    } catch (error) {
      next(error);
    }
  });
  app.get('/__replica', (req, res) => res.json({ pid: process.pid }));
  app.use(
    backendScripts({
      root,
      proxy: { ...proxy, allowedRanges: ['127.0.0.0/8'] },
      variables: (req) => ({ validateUrl, visits: req.visits ?? null, replica: process.pid }),
    }),
  );
  app.use((err, req, res, _next) => res.status(err.status ?? 500).json({ code: err.code ?? null, message: err.message }));

  const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
  process.on('SIGTERM', () => {
    server.close(async () => {
      await redis.quit();
      process.exit(0);
    });
    // Kept-alive connections with no request under way would hold close() open.
    server.closeIdleConnections();
  });
}

main().catch((error) => {
  process.stderr.write(`replica: ${error.stack}\n`);
  process.exit(1);
});

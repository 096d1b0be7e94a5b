'use strict';

// A real Express site for the page and middleware specs: pages written to a temporary folder,
// express-session, the body parsers, backendScripts(), and an error handler that answers with the
// error's code and message (so tests can check that neither ever holds a script's source).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const express = require('express');
const session = require('express-session');
const { backendScripts } = require('../../lib');

/**
 * Writes `files` ({ 'shop/index.html': '…' }) under a fresh temporary folder.
 * @returns {string} the folder
 */
function writePages(files, root = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-scripts-pages-'))) {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(root, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  return root;
}

/**
 * An Express app serving `root`.
 * @param {object} options `withSession` (default true) adds express-session; `before` is a
 *   middleware run before backendScripts; the rest goes to backendScripts().
 */
function siteApp({ withSession = true, before = null, ...options }) {
  const app = express();
  if (withSession) {
    app.use(session({ secret: 'test secret', resave: false, saveUninitialized: false }));
    // Lets tests look at and prepare the session from outside the pages.
    app.get('/__session', (req, res) => res.json(req.session));
    app.post('/__session', express.json(), (req, res) => {
      Object.assign(req.session, req.body);
      res.json(req.session);
    });
  }
  app.use(express.urlencoded({ extended: false }), express.json());
  if (before) app.use(before);
  app.use(backendScripts(options));
  app.use((req, res) => res.status(404).type('text').send('not handled'));
  app.use((err, req, res, _next) => {
    res.status(err.status ?? 500).json({ code: err.code ?? null, message: err.message, page: err.page ?? null });
  });
  return app;
}

module.exports = { writePages, siteApp };

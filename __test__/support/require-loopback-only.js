'use strict';

const os = require('node:os');

// Tests run untrusted scripts that make HTTP requests; a bug must never let one
// leave the machine, so the suite only runs inside scripts/loopback-only.js.
module.exports = function requireLoopbackOnly() {
  if (process.env.BACKEND_SCRIPTS_LOOPBACK_ONLY !== '1') {
    throw new Error(
      'These tests must run in a network namespace with only loopback up. ' +
        'Run them with `npm test` (or `npm run test:js`), or wrap jest yourself: ' +
        '`node scripts/loopback-only.js npx jest <args>`.',
    );
  }
  const others = Object.keys(os.networkInterfaces()).filter((name) => name !== 'lo');
  if (others.length > 0) {
    throw new Error(
      `BACKEND_SCRIPTS_LOOPBACK_ONLY=1 is set, but network interfaces other than lo are present (${others.join(', ')}). ` +
        'Run the tests with `npm test`, which starts them in a fresh network namespace.',
    );
  }
};

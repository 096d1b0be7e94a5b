'use strict';

const net = require('node:net');
const os = require('node:os');

// What a connection to a non-loopback address (TEST-NET-1, RFC 5737) ends with. Refused by a
// sandbox or a firewall (EPERM, EACCES) is confinement; anything else, even no route, is not.
function probeOutbound() {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '192.0.2.1', port: 9 });
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve('a timeout');
    });
    socket.on('connect', () => {
      socket.destroy();
      resolve('a connection');
    });
    socket.on('error', (error) => resolve(error.code));
  });
}

// Tests run untrusted scripts that make HTTP requests; a bug must never let one
// leave the machine, so the suite only runs inside scripts/loopback-only.js.
module.exports = async function requireLoopbackOnly() {
  if (process.env.BACKEND_SCRIPTS_LOOPBACK_ONLY !== '1') {
    throw new Error(
      'These tests must run in a network namespace with only loopback up. ' +
        'Run them with `npm test` (or `npm run test:js`), or wrap jest yourself: ' +
        '`node scripts/loopback-only.js npx jest <args>`.',
    );
  }
  if (process.platform !== 'linux') {
    const outcome = await probeOutbound();
    if (!['EPERM', 'EACCES'].includes(outcome)) {
      throw new Error(`BACKEND_SCRIPTS_LOOPBACK_ONLY=1 is set, but a connection to 192.0.2.1 ended with ${outcome}, not a refusal.`);
    }
    return;
  }
  const others = Object.keys(os.networkInterfaces()).filter((name) => name !== 'lo');
  if (others.length > 0) {
    throw new Error(
      `BACKEND_SCRIPTS_LOOPBACK_ONLY=1 is set, but network interfaces other than lo are present (${others.join(', ')}). ` +
        'Run the tests with `npm test`, which starts them in a fresh network namespace.',
    );
  }
};

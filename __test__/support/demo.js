'use strict';

// `npm run demo`, run as a user would: in its own process group on a free port, read from what
// it prints. Used by the demo's specs, in Node and in the browser.
const { spawn } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

/** Runs `npm run demo` on a free port; resolves with the process, the site's URL, its output and stop(). */
function startDemo() {
  // Its own process group, so that the site and npm stop together.
  const child = spawn('npm', ['run', '--silent', 'demo'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start in time:\n${output}`)), 20000);
    const read = (chunk) => {
      output += chunk;
      const match = /running at (http:\/\/localhost:\d+)\//.exec(output);
      if (match && output.includes('Press Ctrl-C')) {
        clearTimeout(timer);
        const stop = async () => {
          process.kill(-child.pid, 'SIGTERM');
          await exited;
        };
        resolve({ child, url: match[1], output: () => output, stop });
      }
    };
    child.stdout.setEncoding('utf8').on('data', read);
    child.stderr.setEncoding('utf8').on('data', read);
    child.once('exit', (code) => reject(new Error(`the demo exited (${code}):\n${output}`)));
  });
}

module.exports = { startDemo };

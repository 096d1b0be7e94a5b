'use strict';

// Headless Chromium (Debian's `chromium`, which .ci/run installs) driven by playwright-core, with a
// fresh profile each time, and screenshots kept as test artifacts in test-artifacts/screenshots/.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const EXECUTABLE = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
const SCREENSHOTS = path.join(__dirname, '..', '..', 'test-artifacts', 'screenshots');

/** Starts Chromium with a profile of its own; resolves with its context and close(). */
async function launchBrowser() {
  if (!fs.existsSync(EXECUTABLE)) {
    throw new Error(`the browser tests need Chromium at ${EXECUTABLE}: apt-get install chromium (.ci/run does)`);
  }
  // playwright-core passes the profile as --user-data-dir; a fresh one keeps runs independent.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'backend-scripts-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: EXECUTABLE, headless: true, args: FLAGS });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as test-artifacts/screenshots/<name>.png; returns its path. */
async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

module.exports = { launchBrowser, screenshot, SCREENSHOTS };

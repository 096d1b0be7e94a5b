'use strict';

// A folder of shared modules for scripts to import: one `<name>.js` ES module each, compiled with
// createModules. Used by the middleware (`modules` option) and the command line (`--modules`).

const fsp = require('node:fs/promises');
const path = require('node:path');
const { createModules } = require('../index.js');

/**
 * The shared modules in a folder, one `<name>.js` file each, compiled with createModules and
 * compiled again when a file is added, removed or changed. Concurrent requests share one look at
 * the folder; a set that fails to compile is kept too (every page fails with its error) until a
 * file changes.
 */
class ModuleFolder {
  constructor(dir) {
    this.dir = dir;
    this.version = null;
    this.compiled = null;
    this.looking = null;
  }

  /** The compiled set as the folder is now. */
  current() {
    this.looking ??= this.look().finally(() => {
      this.looking = null;
    });
    return this.looking;
  }

  async look() {
    const entries = await fsp.readdir(this.dir, { withFileTypes: true });
    const files = entries.filter((e) => e.isFile() && e.name.endsWith('.js')).map((e) => e.name);
    files.sort();
    const stats = await Promise.all(files.map((f) => fsp.stat(path.join(this.dir, f), { bigint: true })));
    const version = files.map((f, i) => `${f}:${stats[i].ino}:${stats[i].size}:${stats[i].mtimeNs}:${stats[i].ctimeNs}`).join('/');
    if (version !== this.version) {
      const texts = await Promise.all(files.map((f) => fsp.readFile(path.join(this.dir, f), 'utf8')));
      this.compiled = createModules(Object.fromEntries(files.map((f, i) => [f.slice(0, -'.js'.length), texts[i]])));
      // Each request awaits it; this keeps a failure from counting as unhandled meanwhile.
      this.compiled.catch(() => {});
      this.version = version;
    }
    return this.compiled;
  }
}

module.exports = { ModuleFolder };

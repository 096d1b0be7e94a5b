'use strict';

// The package's types, as a site's TypeScript sees them: `tsc --strict` with `module: nodenext`
// over typed usage files, ESM (usage.mts) and CommonJS (usage.cts). Their `@ts-expect-error`
// lines must be errors, so types that grow loose fail this too.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

describe('the TypeScript types', () => {
  it('type-check a site that uses every export, from ESM and from CommonJS, under --strict', () => {
    const tsc = spawnSync(
      process.execPath,
      [
        path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc'),
        '-p',
        path.join(__dirname, 'types', 'tsconfig.json'),
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  }, 180000);
});

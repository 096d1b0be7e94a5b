'use strict';

// The native addon, loaded by the loader napi-rs generates (../index.js). That loader picks the
// platform's package; when none fits, this says which one it looked for and how to build one.

const pkg = require('../package.json');

/** The part of a binary's name that napi-rs gives this machine: `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`. */
function platformName() {
  const { platform, arch } = process;
  if (platform === 'linux') return `linux-${arch}-${isGlibc() ? 'gnu' : 'musl'}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function isGlibc() {
  try {
    return Boolean(process.report.getReport().header.glibcVersionRuntime);
  } catch {
    return true;
  }
}

/** The messages of the loader's error and of every attempt it chained as causes. */
function attempts(error) {
  const messages = [];
  for (let e = error?.cause; e && messages.length < 20; e = e.cause) {
    if (typeof e.message === 'string') messages.push(e.message.split('\n')[0]);
  }
  return messages.reverse();
}

const BUILD_FROM_SOURCE =
  'To build it from source: install Rust (stable, from https://rustup.rs) and a C compiler, clone the ' +
  'repository, run `npm install && npm run build` in it (about 15 minutes on 2 cores), then install that ' +
  'folder in your site (`npm install /path/to/backend-scripts`), or set NAPI_RS_NATIVE_LIBRARY_PATH to ' +
  `the ${pkg.napi.binaryName}.${platformName()}.node it built.`;

function noBinaryError(loadError) {
  const name = platformName();
  const wanted = `${pkg.name}-${name}`;
  const where = `${name}, Node ${process.version}`;
  const published = Object.keys(pkg.optionalDependencies ?? {})
    .filter((dep) => dep.startsWith(`${pkg.name}-`))
    .map((dep) => dep.slice(pkg.name.length + 1));
  let message;
  if (published.length === 0) {
    // A clone of the repository: nothing is prebuilt there.
    message =
      `${pkg.name}: the native addon is not built (${where}): it looked for ${pkg.napi.binaryName}.${name}.node ` +
      `beside index.js and for the package ${wanted}. In a clone of the repository, run \`npm run build\` ` +
      '(it needs Rust, from https://rustup.rs, and a C compiler; about 15 minutes on 2 cores).';
  } else if (published.includes(name)) {
    message =
      `${pkg.name}: the native addon for ${where} is missing: it looked for the package ${wanted}@${pkg.version}, ` +
      'an optional dependency npm installs on this platform, and could not load it. Reinstall without ' +
      '--omit=optional (or --no-optional, --ignore-optional); if the lock file was made on another platform, ' +
      `delete node_modules and the lock file and install again. ${BUILD_FROM_SOURCE}`;
  } else {
    message =
      `${pkg.name}: there is no prebuilt native addon for ${where}: it looked for the package ${wanted}, and ` +
      `prebuilt ones exist for ${published.join(', ')} only. ${BUILD_FROM_SOURCE}`;
  }
  const tried = attempts(loadError);
  if (tried.length > 0) message += `\nWhat was tried:\n${tried.map((m) => `- ${m}`).join('\n')}`;
  // The loader's own message (an npm bug about optional dependencies) would mislead here; what it
  // tried is listed above.
  const error = new Error(message);
  error.code = 'ERR_BACKEND_SCRIPTS_NO_BINARY';
  return error;
}

let binding;
try {
  binding = require('../index.js');
} catch (error) {
  throw noBinaryError(error);
}

module.exports = binding;

'use strict';

// Host functions (`options.functions`): the site's own functions, which scripts call as globals
// that look synchronous. The addon copies a call's arguments out of the sandbox as JSON and hands
// them to `call` below, on the Node thread that started the execution, while the script's thread
// waits without a slot. The answer is one string: 'v' and the JSON of the value (nothing for
// `undefined`), 'e' and the
// message an error exposes (`expose === true`, the http-errors convention) or nothing, 'j' when
// the value cannot be copied as JSON. The addon checks the names.

const native = require('./binding.js');

// An exposed message longer than this is cut: it is an error message, not a channel.
const MAX_MESSAGE = 4096;

/**
 * `runBackendScript` and `renderPage` as the package exports them: `options.functions` becomes the
 * dispatcher the addon calls. A bad `options.functions` rejects the promise, as every bad argument
 * does.
 */
function withFunctions(run) {
  return function (text, context, proxyConfig, options) {
    let split;
    try {
      split = hostOf(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return run(text, context, proxyConfig, split.options, split.host);
  };
}

/** Takes `functions` out of the options; the rest goes to the addon as it is. */
function hostOf(options) {
  if (options === null || typeof options !== 'object' || options.functions == null) return { options, host: null };
  const { functions, ...rest } = options;
  if (typeof functions !== 'object' || Array.isArray(functions)) {
    throw argTypeError('options.functions', 'an object of functions', functions);
  }
  const table = new Map();
  for (const [name, fn] of Object.entries(functions)) {
    if (typeof fn !== 'function') throw argTypeError(`options.functions.${name}`, 'a function', fn);
    table.set(name, fn);
  }
  const call = async (name, argsJson) => {
    let value;
    try {
      value = await Reflect.apply(table.get(name), functions, JSON.parse(argsJson));
    } catch (error) {
      return 'e' + exposedMessage(error);
    }
    if (value === undefined) return 'v';
    try {
      return 'v' + (JSON.stringify(value) ?? 'null');
    } catch {
      // What JSON.stringify threw (a getter's or toJSON's error) is the host's: never shown.
      return 'j';
    }
  };
  return { options: rest, host: { names: [...table.keys()], call } };
}

/** The message of an error that says it may be shown (`expose === true`); '' otherwise. */
function exposedMessage(error) {
  try {
    if (error !== null && typeof error === 'object' && error.expose === true && typeof error.message === 'string') {
      return error.message.slice(0, MAX_MESSAGE);
    }
  } catch {
    // A getter that throws exposes nothing.
  }
  return '';
}

function argTypeError(name, expected, value) {
  const received = value === null ? 'null' : Array.isArray(value) ? 'an array' : value === undefined ? 'undefined' : `type ${typeof value}`;
  return Object.assign(new TypeError(`The "${name}" argument must be ${expected}. Received ${received}`), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
}

module.exports = {
  runBackendScript: withFunctions(native.runBackendScript),
  renderPage: withFunctions(native.renderPage),
};

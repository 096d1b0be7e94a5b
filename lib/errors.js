'use strict';

// The errors executions and pages fail with, and the one list of their codes.

const { types } = require('node:util');

/**
 * Every `code` an execution (`runBackendScript`), a page (`renderPage`) or the middleware
 * (`backendScripts()`) fails with; `errors.d.ts` gives each one's meaning. The codes are defined
 * once, as the addon's `ErrorCode` enum (src/error.rs), whose TypeScript union napi generates;
 * the tests check that this list names the same codes.
 */
const SCRIPT_ERROR_CODES = Object.freeze([
  'ERR_SCRIPT_SYNTAX',
  'ERR_SCRIPT_EXCEPTION',
  'ERR_SCRIPT_MODULE',
  'ERR_SCRIPT_TIMEOUT',
  'ERR_SCRIPT_MEMORY',
  'ERR_SCRIPT_OUTPUT_LIMIT',
  'ERR_SCRIPT_BUSY',
  'ERR_PAGE_TEMPLATE',
  'ERR_PAGE_SESSION_COOKIE',
  'ERR_PAGE_RESPONSE',
  'ERR_SCRIPT_INTERNAL',
]);

const CODES = new Set(SCRIPT_ERROR_CODES);

/**
 * The error a failed execution or page rejects with. The addon creates these natively, so an
 * error is a ScriptError — for `instanceof` too — when it is an `Error` whose `code` is one of
 * SCRIPT_ERROR_CODES; bad arguments (`ERR_INVALID_ARG_*`) are not.
 */
class ScriptError extends Error {
  /**
   * @param {string} message
   * @param {{ code: string, line?: number | null, column?: number | null, logs?: unknown[], cause?: unknown }} details
   */
  constructor(message, details) {
    const { code, line = null, column = null, logs = [], cause } = details ?? {};
    if (!CODES.has(code)) {
      throw Object.assign(
        new TypeError(`ScriptError: code must be one of ${SCRIPT_ERROR_CODES.join(', ')}. Received ${JSON.stringify(code)}`),
        {
          code: 'ERR_INVALID_ARG_VALUE',
        },
      );
    }
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.line = line;
    this.column = column;
    this.logs = logs;
  }

  // isNativeError too: an error made in another realm (a vm context, Jest's) is no `instanceof Error` here.
  static [Symbol.hasInstance](value) {
    return (value instanceof Error || types.isNativeError(value)) && CODES.has(value.code);
  }
}

Object.defineProperty(ScriptError.prototype, 'name', { value: 'ScriptError', configurable: true, writable: true });

module.exports = { ScriptError, SCRIPT_ERROR_CODES };

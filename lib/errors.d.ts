// Types of errors.js: the errors executions and pages fail with.

import type { ErrorCode, LogEntry, Stats } from '../index';

/**
 * The `code` of an error `runBackendScript`, `renderPage` or `backendScripts()` fails with:
 * - `ERR_SCRIPT_SYNTAX`: the script does not parse;
 * - `ERR_SCRIPT_EXCEPTION`: an uncaught exception, a stack overflow, or an unhandled rejection;
 * - `ERR_SCRIPT_MODULE`: an `import` names no module of `options.modules`, or a name its module does not export (`module` and `line` say where);
 * - `ERR_SCRIPT_TIMEOUT`: the CPU-time or wall-clock budget ran out;
 * - `ERR_SCRIPT_MEMORY`: the memory limit was hit;
 * - `ERR_SCRIPT_OUTPUT_LIMIT`: the result grew past `maxOutputBytes`;
 * - `ERR_SCRIPT_BUSY`: more executions were waiting than `maxQueue` allows;
 * - `ERR_PAGE_TEMPLATE`: a page's template does not compile, fails, or runs out of its budget;
 * - `ERR_PAGE_SESSION_COOKIE`: a page's script set or deleted the session cookie (`backendScripts()` only);
 * - `ERR_PAGE_RESPONSE`: a page's response breaks a rule of Node's or Express's, so nothing of it is applied (`backendScripts()` only);
 * - `ERR_SCRIPT_INTERNAL`: a defect in the addon itself.
 * Bad arguments reject with a `TypeError`/`RangeError` whose code is `ERR_INVALID_ARG_TYPE` or
 * `ERR_INVALID_ARG_VALUE` instead. The union is `ErrorCode`, generated from the addon's one list of
 * codes; `SCRIPT_ERROR_CODES` holds the same codes at run time, which the tests check.
 */
export type ScriptErrorCode = ErrorCode;

/** Every {@link ScriptErrorCode}, at run time. */
export declare const SCRIPT_ERROR_CODES: readonly ScriptErrorCode[];

/**
 * The error a failed execution or page rejects with; its message says what happened in plain
 * words. The addon creates these natively: `err instanceof ScriptError` holds for any `Error`
 * whose `code` is a {@link ScriptErrorCode}.
 *
 * @example
 * try {
 *   await runBackendScript(source)
 * } catch (err) {
 *   if (err instanceof ScriptError && err.code === 'ERR_SCRIPT_TIMEOUT') console.warn(err.message)
 *   else throw err
 * }
 */
export declare class ScriptError extends Error {
  constructor(
    message: string,
    details: { code: ScriptErrorCode; line?: number | null; column?: number | null; logs?: LogEntry[]; cause?: unknown },
  );
  code: ScriptErrorCode;
  /** 1-based line in the script's (or page's) own numbering, where known. */
  line: number | null;
  /** 1-based column, where known. */
  column: number | null;
  /**
   * The shared module `line` and `column` are in (for an error inside a module, or an import in
   * one that does not resolve); absent when they are the script's (or page's) own.
   */
  module?: string;
  /** What the script printed before it failed. */
  logs: LogEntry[];
  /**
   * The record of the execution, as a result's `stats`: `outcome` is this error's `code`, and the
   * times, peak memory and HTTP requests are those of the execution up to its failure (all 0 and
   * empty for `ERR_SCRIPT_BUSY`, which never ran). Absent on a ScriptError made by hand.
   */
  stats?: Stats;
  /** Set by `backendScripts()` on the errors it passes to `next()`: 503 for `ERR_SCRIPT_BUSY`, else 500. */
  status?: number;
  /** Set by `backendScripts()`: the page's file. */
  page?: string;
}

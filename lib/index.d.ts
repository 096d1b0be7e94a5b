// Types of the package's entry point: the addon's exports (generated from the Rust sources in
// ../index.d.ts), sharpened where the generator cannot say enough, and the JavaScript beside
// this file: the Express middleware and ScriptError.

import type { NextFunction, Request, Response } from 'express'
import type {
  LogEntry,
  Stats,
  PageResult as GeneratedPageResult,
  ProxyConfig,
  RunOptions,
  ScriptContext,
  ScriptResult as GeneratedScriptResult,
} from '../index'

export * from '../index'
export { ScriptError, SCRIPT_ERROR_CODES } from './errors'
export type { ScriptErrorCode } from './errors'
import type { ScriptErrorCode } from './errors'

/** What every {@link ScriptResult} has, whatever its `action`. */
export type ScriptResultBase = Omit<GeneratedScriptResult, 'action' | 'status' | 'location' | 'body'>

/** The script let the page render: it neither redirected nor sent a response. */
export interface ScriptRenderResult extends ScriptResultBase {
  action: 'render'
  /** From `response.status()`; `null` when never set. */
  status: number | null
  location: null
  body: null
}

/** The script called `redirect(url, status)`. */
export interface ScriptRedirectResult extends ScriptResultBase {
  action: 'redirect'
  /** 301, 302 (the default), 303, 307 or 308. */
  status: number
  /** The target: a path on this site or an absolute http(s) URL. */
  location: string
  body: null
}

/** The script answered with `response.send(body)` or `response.json(value)`. */
export interface ScriptSendResult extends ScriptResultBase {
  action: 'send'
  /** From `response.status()`; `null` when never set. */
  status: number | null
  location: null
  /** The `send()` body (`''` when given none), or the JSON text of `json()`. */
  body: string
}

/** The outcome of a successful execution; `action` tells which of the three it is. */
export type ScriptResult = ScriptRenderResult | ScriptRedirectResult | ScriptSendResult

/** What every {@link PageResult} has, whatever its `action`. */
export type PageResultBase = Omit<GeneratedPageResult, 'action' | 'body'>

/** The page rendered: `body` is the HTML. */
export interface PageRenderResult extends PageResultBase {
  action: 'render'
  body: string
}

/** The page's script redirected: the `location` header is the target, and there is no body. */
export interface PageRedirectResult extends PageResultBase {
  action: 'redirect'
  headers: Record<string, string> & { location: string }
  body: ''
}

/** The page's script answered with `response.send()` or `response.json()`. */
export interface PageSendResult extends PageResultBase {
  action: 'send'
  body: string
}

/** What a page answers, with the session and cookie changes its script made; `action` tells which answer it is. */
export type PageResult = PageRenderResult | PageRedirectResult | PageSendResult

/**
 * Runs a page's backend script in a fresh, isolated QuickJS sandbox on the addon's own threads,
 * and resolves with the variables, session and cookie changes and response action it produced.
 *
 * Rejects with a {@link ScriptError} (`ERR_SCRIPT_*`, with `line`, `column` where known, and
 * `logs`) when the script fails, and with a `TypeError`/`RangeError` whose `code` is
 * `ERR_INVALID_ARG_TYPE`/`ERR_INVALID_ARG_VALUE` for bad arguments.
 */
export declare function runBackendScript(
  source: string,
  context?: ScriptContext | null,
  proxyConfig?: ProxyConfig | null,
  options?: RunOptions | null,
): Promise<ScriptResult>

/**
 * Runs a page's `<script scope="backend">` blocks (in document order, as one execution in a fresh
 * sandbox) and renders the rest of the page as a Jinja template with `var` bound to the script's
 * variables, HTML-escaped. The blocks never appear in the output.
 *
 * Resolves with the response to send: a redirect, the body the script sent, or the rendered page.
 * Rejects as {@link runBackendScript} does (with `line`/`column` in the page's own numbering), or
 * with a {@link ScriptError} whose `code` is `ERR_PAGE_TEMPLATE`, and the page `line`, when the
 * template does not compile, fails while rendering or runs out of its rendering budget.
 */
export declare function renderPage(
  html: string,
  context?: ScriptContext | null,
  proxyConfig?: ProxyConfig | null,
  options?: RunOptions | null,
): Promise<PageResult>

/**
 * Renders a page as {@link renderPage} does but without running its backend blocks: the template
 * sees `context.variables` only, and the result has status 200 and no session change, cookie or
 * header of a script. For showing a page whose script failed, or previewing a template.
 */
export declare function renderTemplate(html: string, context?: ScriptContext | null, options?: RunOptions | null): Promise<PageResult>

/** An error {@link checkPage} found in a page, in the page's own numbering. */
export interface Diagnostic {
  code: 'ERR_PAGE_TEMPLATE' | 'ERR_SCRIPT_SYNTAX' | 'ERR_SCRIPT_MODULE'
  message: string
  /** 1-based. */
  line?: number | null
  /** 1-based, in bytes of UTF-8; unknown (null) for template errors. */
  column?: number | null
}

/**
 * Checks a page without running anything, on the addon's threads: finds its backend blocks,
 * compiles its template and parses its script. Resolves with the errors found (an empty array for
 * a good page): the template's, and the script's first syntax error or import that names no
 * module of `options.modules`.
 */
export declare function checkPage(html: string, options?: RunOptions | null): Promise<Diagnostic[]>

/**
 * A site's own functions for scripts (`options.functions`): each becomes a script global of its
 * name, and a call returns the function's awaited value, synchronously from the script's point of
 * view. Arguments and values cross as JSON (functions, prototypes and host objects never do). A
 * function that throws or rejects gives the script an `Error` whose message is the host error's
 * only when that error has `expose === true`, and `host function NAME failed` otherwise.
 *
 * @example
 * { getOrders: async (sortBy: string, limit: number) => db.orders.list({ sortBy, limit }) }
 */
export type HostFunctions = Record<string, (...args: any[]) => unknown>

/** Options of {@link backendScripts}. Only `root` is required. */
export interface BackendScriptsOptions {
  /**
   * The folder the pages are served from. `/welcome` serves `welcome.html`, `/` and `/shop/` serve
   * `index.html` of their folder, and `/welcome.html` serves that file too. No request can reach a
   * file outside it (`..`, encoded slashes, and symlinks that lead out are all refused), and files
   * or folders whose name starts with a dot are never served. It must exist when the middleware is
   * created.
   */
  root: string
  /**
   * The egress proxy scripts' `http.get`/`http.post` calls go through. Without it (`null`),
   * `http` is `undefined` in the scripts. A function of the request and response (it may be
   * async) gives each request its own: one process serving many sites gives each site its own
   * proxy credentials, and so its own rules at the proxy. It is called for every page served; a
   * value other than an object or `null` fails the page with `ERR_INVALID_ARG_TYPE`.
   * @default null
   */
  proxy?: ProxyConfig | null | ((req: any, res: any) => ProxyConfig | null | Promise<ProxyConfig | null>)
  /**
   * Limits of each page's script (CPU time, wall-clock time, memory, stack, output), or a function
   * of the request and response that returns them (it may be async), for limits per site.
   * @default null (the defaults of RunOptions)
   */
  limits?: RunOptions | null | ((req: any, res: any) => RunOptions | null | Promise<RunOptions | null>)
  /**
   * The site's own functions for scripts ({@link HostFunctions}), or a function of the request
   * and response that returns them (it may be async), so that a function can see the visitor.
   * @default null (none)
   */
  functions?: HostFunctions | ((req: Request, res: Response) => HostFunctions | null | Promise<HostFunctions | null>) | null
  /**
   * A folder of shared modules, one `<name>.js` ES module each, that every page's script may
   * `import` by name (`import { isEmail } from 'validators'` for `validators.js`). They are
   * compiled with {@link createModules} and compiled again when a file in the folder is added,
   * removed or changed. Nothing in the folder is ever served as a page, even when it sits under
   * `root`. It must exist when the middleware is created.
   * @default null (scripts import nothing)
   */
  modules?: string | null
  /**
   * Variables every page starts with (scripts read them with `getVariable`, templates as `var.…`),
   * or a function of the request and response that returns them (it may be async). They must be
   * JSON values: site-wide settings such as the URL of an API, not secrets a script must not see.
   * @default null (none)
   */
  variables?: Record<string, unknown> | ((req: Request, res: Response) => Record<string, unknown> | Promise<Record<string, unknown>>) | null
  /**
   * Called with what a page's script printed with `console.*`, when it printed anything (whether
   * it succeeded or failed). Without it, script output is dropped.
   * @default null
   */
  onLogs?: ((logs: LogEntry[], info: { page: string; req: Request }) => void) | null
  /**
   * Called once for every page served, whether it succeeded or failed, with the record of its
   * execution: the addon's `stats` (outcome, duration, CPU, peak memory, waits, every HTTP
   * request) and the page's file. Called after the response is sent for a success, and before
   * the error goes to `next(err)` for a failure; `info.error` is that error. Feed logs and metrics
   * from it. If it throws (or returns a promise that rejects), the response is not affected: the
   * failure is emitted as a process warning with code `BACKEND_SCRIPTS_ON_EXECUTION`.
   * @default null
   */
  onExecution?: ((record: ExecutionRecord, info: { req: Request; error: Error | null }) => void | Promise<void>) | null
  /**
   * What a request gets when its page's script fails (`ERR_SCRIPT_*` but `ERR_SCRIPT_BUSY`, a
   * template that fails while rendering, `ERR_PAGE_SESSION_COOKIE`, `ERR_PAGE_RESPONSE`):
   * - `'next'`: the error goes to `next(err)`, for the site's error handler (status 500);
   * - `'render'`: the page's template is rendered without the script ({@link renderTemplate}):
   *   with the `variables` option only, status 200, and no session change, cookie, header or
   *   status of the failed script. When the template itself fails, that error goes to `next(err)`.
   * Either way nothing of the failed script is applied, and `onError` hears of the failure.
   * `ERR_SCRIPT_BUSY` always goes to `next(err)` (503): rendering would wait as long.
   * @default 'next'
   */
  onScriptError?: 'next' | 'render'
  /**
   * Called with every failure of a page (before `next(err)` or the fallback render), with the
   * page's file, the request, and the error's `code`, `line` and `column` (null when unknown). It
   * may be async: the answer waits for it. An error it throws goes to `next(err)`.
   * @default null
   */
  onError?:
    | ((
        error: Error,
        info: { page: string; req: Request; code: string | null; line: number | null; column: number | null },
      ) => void | Promise<void>)
    | null
  /**
   * The page a path ending in `/` serves.
   * @default 'index.html'
   */
  index?: string
  /**
   * Extensions (without the dot) tried, in order, for a path without one: `/welcome` tries
   * `welcome.html`. A path with one of them is served as it is.
   * @default ['html']
   */
  extensions?: string[]
  /**
   * The name of express-session's cookie (its `name` option). Scripts never see this cookie, in
   * `request.cookies` or in the `cookie` header, and a page whose script sets or deletes a cookie
   * of that name fails with `ERR_PAGE_SESSION_COOKIE`.
   * @default 'connect.sid'
   */
  sessionCookieName?: string
}

/**
 * The record of one page served by {@link backendScripts}: the execution's `stats`, the page, and
 * the outcome. It is plain data (it holds no path or query string of the requests the script
 * made, only their hosts), ready to log as JSON.
 */
export interface ExecutionRecord extends Omit<Stats, 'outcome'> {
  /** The page's file, relative to `root`. */
  page: string
  /**
   * `'ok'`, or the `code` of the error the page failed with: a {@link ScriptErrorCode}, or, for a
   * failure before the script ran (an options function that threw, a bad argument), that error's
   * own `code` (`'error'` when it has none). The time and HTTP fields of a page that never ran
   * are 0 and empty.
   */
  outcome: 'ok' | ScriptErrorCode | (string & {})
}

/** An Express (4 or 5) middleware. */
export type BackendScriptsMiddleware = (req: Request, res: Response, next: NextFunction) => Promise<void>

/**
 * Express middleware that serves the pages under `options.root`: for every GET, HEAD or POST of a
 * path that maps to a page, it runs the page's `<script scope="backend">` blocks with
 * {@link renderPage} and answers with what they produce (the rendered page, a redirect, or the
 * body the script sent). Any other request goes to `next()`.
 *
 * - The script's `request` comes from the Express request (method, url, path, query, params,
 *   headers, cookies from `req.cookies` or the `Cookie` header, `req.body` when a body parser ran,
 *   ip).
 * - With express-session in use, the script's `session` is `req.session`: the keys the script sets
 *   or deletes are applied to it; express-session's own fields (`cookie`, `id`) are never shown or
 *   written. Without session middleware the session starts empty and changes are discarded.
 * - Cookies the script sets or deletes go out through `res.cookie` / `res.clearCookie`.
 * - A failing script (or template) goes to `next(err)`, with `err.code` (`ERR_SCRIPT_*`,
 *   `ERR_PAGE_TEMPLATE`), `err.status` 500 (503 for `ERR_SCRIPT_BUSY`) and `err.page`, the file;
 *   the script's source is never part of the error. With `onScriptError: 'render'` the page's
 *   template is served without the script instead; `onError` hears of every failure.
 * - Pages are read again when their file changes.
 *
 * Template output is HTML-escaped. The `|safe` filter turns that off for one value: never use it
 * on anything a visitor or a script can influence, as it lets that value add markup and scripts to
 * the page.
 *
 * @example
 * app.use(session({ secret, resave: false, saveUninitialized: false }))
 * app.use(express.urlencoded({ extended: false }), express.json())
 * app.use(backendScripts({ root: 'pages', proxy: { url, username, password }, limits: { cpuTimeMs: 500 } }))
 */
export declare function backendScripts(options: BackendScriptsOptions): BackendScriptsMiddleware

// Types of the package's entry point: the addon's exports (generated in ../index.d.ts) and the
// Express middleware written in JavaScript beside this file.

import type { ErrorCode, LogEntry, ProxyConfig, RunOptions } from '../index'

export * from '../index'

/**
 * The `code` of an error `runBackendScript`, `renderPage` or the middleware fails with (see
 * `ErrorCode`, generated from the addon). Bad arguments reject with a `TypeError`/`RangeError`
 * whose code is `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE` instead.
 */
export type ScriptErrorCode = ErrorCode

/** The error a failed execution rejects with; its message says what happened in plain words. */
export interface ScriptError extends Error {
  code: ScriptErrorCode
  /** 1-based line in the script's (or page's) own numbering, where known. */
  line: number | null
  /** 1-based column, where known. */
  column: number | null
  /** What the script printed before it failed. */
  logs: LogEntry[]
}

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
   * Variables every page starts with (scripts read them with `getVariable`, templates as `var.…`),
   * or a function of the request and response that returns them (it may be async). They must be
   * JSON values: site-wide settings such as the URL of an API, not secrets a script must not see.
   * @default null (none)
   */
  variables?: Record<string, unknown> | ((req: any, res: any) => Record<string, unknown> | Promise<Record<string, unknown>>) | null
  /**
   * Called with what a page's script printed with `console.*`, when it printed anything (whether
   * it succeeded or failed). Without it, script output is dropped.
   * @default null
   */
  onLogs?: ((logs: LogEntry[], info: { page: string; req: any }) => void) | null
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

/** An Express (4 or 5) middleware. */
export type BackendScriptsMiddleware = (req: any, res: any, next: (error?: unknown) => void) => Promise<void>

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
 *   the script's source is never part of the error.
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

// Types of the globals a backend script sees: `<script scope="backend">` blocks of a page, or a
// script given to runBackendScript. Use them from an editor with
//   /// <reference types="backend-scripts/script" />
// at the top of a script file, or for a whole folder with a jsconfig.json:
//   { "compilerOptions": { "checkJs": true, "lib": ["es2023"], "types": ["backend-scripts/script"],
//     "moduleDetection": "force" } }
// (no DOM and no Node types: a script has neither `document` nor `require`).
//
// Scripts run in a fresh QuickJS sandbox with the ECMAScript built-ins and exactly the globals
// below. There is no `require`, `process`, `import()`, timers, `fetch`, file system or host object.
// Values cross between the script and the host only by copy, with JSON semantics: `undefined`
// becomes `null`, and a value JSON cannot hold (a cycle, a BigInt, a function) makes the call that
// received it throw a `TypeError`.
//
// A site's own globals (host functions) and shared modules are declared by the site, in a .d.ts
// file of its own (`declare function getOrders(…): …`, `declare module 'validators' { … }`); it
// types its session and variables by adding to `BackendScripts.Session` and `BackendScripts.Variables`.

declare namespace BackendScripts {
  /**
   * What a script may hand to the host, which copies it as JSON (`undefined` becomes `null`): not a
   * function, a BigInt or a symbol. Nested ones, and cycles, throw a `TypeError` when the script runs.
   */
  type Copyable<T> = T extends Function | bigint | symbol ? never : T;

  /** Any key but those `Known` lists with a type of their own. */
  type OtherKey<K extends string, Known> = K extends keyof Known ? never : K;

  /**
   * A value of the query string: a string, or, for a repeated name (`?a=1&a=2`) or the bracket
   * forms of an extended query parser (`?a[]=1`, `?a[b]=1`), an array or an object. Anything a
   * visitor sends can take any of these shapes: check with `typeof value === 'string'` before using
   * a value as a string.
   */
  type QueryValue = string | readonly QueryValue[] | { readonly [key: string]: QueryValue | undefined };

  /** The visitor's request, as the host gave it: a deep-frozen copy. */
  interface Request {
    /** The method, upper-cased: `'GET'`, `'POST'`, … (`'GET'` when the host gave none). */
    readonly method: string;
    /** The URL as requested, path and query string: `'/welcome?token=abc'` (`''` when the host gave none). */
    readonly url: string;
    /** The path without the query string: `'/welcome'` (`''` when the host gave none). */
    readonly path: string;
    /** The parsed query string; always an object, so `request.query.token` never throws. */
    readonly query: { readonly [name: string]: QueryValue | undefined };
    /** Route parameters; always an object. */
    readonly params: { readonly [name: string]: string | undefined };
    /**
     * The request headers with lower-case names (`request.headers['user-agent']`); two spellings
     * of one name are joined with `, `. Always an object. The session cookie is never shown.
     */
    readonly headers: { readonly [name: string]: string | readonly string[] | undefined };
    /** The request's cookies, name to value; always an object. The session cookie is never shown. */
    readonly cookies: { readonly [name: string]: string | undefined };
    /**
     * The parsed body when the host ran a body parser (a form's fields, a JSON document), else
     * `null`. It comes from the visitor: check its shape before trusting it.
     */
    readonly body: any;
    /** The visitor's address as the host saw it (`''` when the host gave none). */
    readonly ip: string;
  }

  /**
   * The visitor's session. Values are copied in and out as JSON: changing an object read with
   * `get` changes nothing until it is `set` again. The host applies the changes only when the
   * script succeeds.
   */
  interface SessionStore {
    /** The value stored under `key`, as a fresh copy; `null` when there is none. Throws a `TypeError` when `key` is not a string. */
    get<K extends keyof Session & string>(key: K): Session[K] | null;
    get(key: string): any;
    /**
     * Stores a copy of `value` under `key` (`undefined` is stored as `null`). Throws a `TypeError`
     * when `key` is not a string or `value` cannot be copied as JSON.
     */
    set<K extends keyof Session & string>(key: K, value: Session[K]): void;
    set<K extends string, T>(key: OtherKey<K, Session>, value: Copyable<T>): void;
    /** Removes `key`; returns whether it was there. */
    delete(key: string): boolean;
  }

  /**
   * The keys a site keeps in its sessions, with their types; empty unless the site adds to it, in
   * a .d.ts file of its own:
   *
   *     declare namespace BackendScripts {
   *       interface Session { user: { name: string }; visits: number }
   *     }
   *
   * Then `session.get('user')` is `{ name: string } | null`, and `session.set('visits', 'x')` is an
   * error in the editor. Keys not listed stay untyped.
   */
  interface Session {}

  /**
   * The template variables of a site, with their types (those the host passes to every page and
   * those scripts set); empty unless the site adds to it, as for {@link Session}.
   */
  interface Variables {}

  /** Options of `cookie.set`. */
  type CookieOptions = {
    /** Lifetime in milliseconds (a finite number); without it the cookie lasts for the browser session. */
    maxAge?: number;
    /** Must start with `/`. @default '/' */
    path?: string;
    /** The domain the cookie is sent to; by default only this host. */
    domain?: string;
    /** When `false`, scripts in the browser can read the cookie. @default true */
    httpOnly?: boolean;
  } & (
    | {
        /** Send the cookie over HTTPS only. @default false */
        secure?: boolean;
        /** Any case is accepted. @default 'lax' */
        sameSite?: 'strict' | 'lax' | 'Strict' | 'Lax';
      }
    | {
        /** `sameSite: 'none'` requires `secure: true`: browsers drop such cookies otherwise. */
        secure: true;
        sameSite: 'none' | 'None';
      }
  );

  /** Options of `cookie.delete`: the `path` and `domain` the cookie was set with. */
  interface CookieDeleteOptions {
    /** Must start with `/`. @default '/' */
    path?: string;
    domain?: string;
  }

  /**
   * Cookies to send with the response. The host sets them only when the script succeeds; the last
   * change to a cookie (same name, path and domain) wins.
   */
  interface Cookies {
    /**
     * Sets a cookie. Throws a `TypeError` when the name is not a valid cookie name (letters, digits
     * and ``!#$%&'*+-.^_`|~``), the name and value together pass 4096 bytes, an option is unknown
     * or of the wrong type, a `path` or `domain` holds `;` or a control character, or
     * `sameSite: 'none'` comes without `secure: true`. A script may not set the session cookie.
     */
    set(name: string, value: string, options?: CookieOptions): void;
    /** Clears a cookie; give the `path` and `domain` it was set with. Throws a `TypeError` as `set` does. */
    delete(name: string, options?: CookieDeleteOptions): void;
  }

  /** A status `redirect` accepts. */
  type RedirectStatus = 301 | 302 | 303 | 307 | 308;

  /** How the script answers, instead of letting the page render. */
  interface Response {
    /**
     * Sets the status of the response, rendered page or `send`/`json` answer; chainable:
     * `response.status(404).send('Not found')`. Throws a `TypeError` when `code` is not a number and a
     * `RangeError` when it is not an integer from 100 to 599.
     */
    status(code: number): this;
    /**
     * Sets a response header (a number is sent as its decimal text); chainable. Throws a
     * `TypeError` for an invalid name, a value with CR, LF, NUL or another control character, and
     * the headers the host keeps: `set-cookie` (use `cookie.set`), `content-length`,
     * `transfer-encoding`, `connection`, `keep-alive`, `upgrade`, `te`, `trailer` and
     * `access-control-*`.
     */
    setHeader(name: string, value: string | number): this;
    /**
     * Answers with `body` (default `''`) instead of the rendered page, and ends the script at once:
     * no later statement runs, and the script's own `try`/`catch`/`finally` cannot stop it. Throws a
     * `TypeError` when `body` is not a string (use `response.json` for data).
     */
    send(body?: string): never;
    /**
     * Answers with `value` as JSON, adding `content-type: application/json; charset=utf-8` unless
     * the script set one, and ends the script at once, as `send` does. Throws a `TypeError` when the
     * value cannot be copied as JSON.
     */
    json<T>(value: Copyable<T>): never;
  }

  /** Headers of an outgoing request: name to value. */
  type OutgoingHeaders = { [name: string]: string | number };

  /**
   * What an `http` call gives back. When no response could be had, `status` is 0, `headers` is `{}`,
   * `body` is `''` and `error` says why: invalid URL, blocked destination (and the rule), proxy
   * unreachable or credentials refused, DNS failure, timeout, body too large, too many redirects,
   * TLS failure.
   */
  interface HttpResult {
    /** The final response's status (redirects are followed); 0 when there was none. */
    status: number;
    /** Lower-case names; repeated headers joined with `, `. */
    headers: { [name: string]: string };
    /** The body decoded as UTF-8 (`JSON.parse(result.body)` for JSON). */
    body: string;
    /** Why there was no response; present only when `status` is 0. */
    error?: string;
  }

  /** A method `http.request` accepts, in any case. */
  type HttpMethod =
    | 'GET'
    | 'POST'
    | 'PUT'
    | 'PATCH'
    | 'DELETE'
    | 'HEAD'
    | 'OPTIONS'
    | Lowercase<'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS'>;

  /**
   * HTTP through the site's egress proxy. The calls look synchronous: the script waits (without
   * using CPU time) and gets the response. Only `http:` and `https:` URLs to public addresses are
   * reached; every redirect hop is checked again.
   *
   * They throw only for misuse: wrong argument types, a forbidden or malformed header (`host`,
   * `connection`, `content-length`, `transfer-encoding`, `te`, `upgrade`, `keep-alive`, `trailer`,
   * `expect`, `forwarded`, `x-forwarded-*`, `proxy-*`, CR/LF/NUL), a body on a GET or HEAD, or the
   * request limit used up (`HTTP request limit reached: 5 per script execution`). Everything
   * else, a refused destination included, is a result with `status: 0` and `error`.
   */
  interface Http {
    /** A GET request. */
    get(url: string, headers?: OutgoingHeaders): HttpResult;
    /**
     * A POST request. A string body is sent as it is; anything else is sent as JSON, with
     * `content-type: application/json` unless `headers` has one.
     */
    post<T>(url: string, body?: Copyable<T>, headers?: OutgoingHeaders): HttpResult;
    /** A request with any of the methods listed; the body is sent as `post` sends it (none for GET and HEAD). */
    request<T>(method: HttpMethod, url: string, body?: Copyable<T>, headers?: OutgoingHeaders): HttpResult;
  }
}

/** The visitor's request: a deep-frozen copy, so nothing in it can be changed. */
declare const request: BackendScripts.Request;

/** The visitor's session: `get`, `set`, `delete`. */
declare const session: BackendScripts.SessionStore;

/**
 * Sets a template variable, printed by the page's template as `{{ var.name }}`; `value` is copied
 * as JSON. Throws a `TypeError` when `name` is not a non-empty string or `value` cannot be copied.
 */
declare function setVariable<K extends keyof BackendScripts.Variables & string>(name: K, value: BackendScripts.Variables[K]): void;
declare function setVariable<K extends string, T>(
  name: BackendScripts.OtherKey<K, BackendScripts.Variables>,
  value: BackendScripts.Copyable<T>,
): void;

/**
 * A template variable: one the script set, or one the host passed in; a fresh copy, or `null`
 * when there is none.
 */
declare function getVariable<K extends keyof BackendScripts.Variables & string>(name: K): BackendScripts.Variables[K] | null;
declare function getVariable(name: string): any;

/** Cookies to set or clear with the response: `cookie.set(name, value, options)`, `cookie.delete(name, options)`. */
declare const cookie: BackendScripts.Cookies;

/**
 * Answers with a redirect (status 302 unless given) and ends the script at once: no later
 * statement runs, and the script's own `try`/`catch`/`finally` cannot stop it.
 *
 * `url` is a path on this site (`/login`, not `//host`) or an absolute `http:`/`https:` URL.
 * Anything else (`javascript:`, `data:`, `//evil.example`, backslashes, control characters) throws
 * a `TypeError`; a status other than 301, 302, 303, 307 or 308 throws a `RangeError` (a `TypeError`
 * when it is not a number).
 */
declare function redirect(url: string, status?: BackendScripts.RedirectStatus): never;

/** How the script answers: `status`, `setHeader` (chainable), `send`, `json`. */
declare const response: BackendScripts.Response;

/**
 * What the script prints is captured for the host (its `onLogs`), never written anywhere else;
 * formatted as Node does (`%s %d %i %f %j %o %O %c`, objects as JSON). At most 100 entries and
 * 64 KiB; then one final entry says the log was truncated.
 */
interface Console {
  log(...data: any[]): void;
  info(...data: any[]): void;
  warn(...data: any[]): void;
  error(...data: any[]): void;
  debug(...data: any[]): void;
}
// `var` and the global `Console` interface, so that an editor that also loads the DOM's or Node's
// types merges the two instead of reporting a conflict.
declare var console: Console;

/**
 * HTTP through the site's egress proxy: `http.get`, `http.post`, `http.request`. `undefined` when
 * the host configured no proxy: with `strict` checking, test it first (`if (!http) …`).
 */
declare const http: BackendScripts.Http | undefined;

//! What an execution produces, as plain data: the response the script chose, its cookies, its
//! logs and measurements. The script API builds it (`api`), the sandbox hands it back (`sandbox`),
//! and results and errors carry it to JavaScript (`result`, `page::result`, `error`); it depends
//! on none of them.

use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use napi_derive::napi;

/// One line the script printed with `console.*`.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogEntry {
  #[napi(ts_type = "'log' | 'info' | 'warn' | 'error' | 'debug'")]
  pub level: String,
  pub message: String,
}

/// What the script printed, shared with the watchdog so that a script stopped from outside still
/// reports its logs.
pub type SharedLogs = Arc<Mutex<Vec<LogEntry>>>;

/// One cookie the script set or deleted.
#[napi(object, object_from_js = false, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CookieChange {
  pub name: String,
  /// `null` deletes the cookie.
  pub value: Option<String>,
  pub options: CookieOptions,
}

/// Cookie attributes, with the defaults filled in.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CookieOptions {
  /// Lifetime in milliseconds, as Express's `res.cookie` takes it; absent for a session cookie.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub max_age: Option<f64>,
  /// @default '/'
  pub path: String,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub domain: Option<String>,
  /// @default false
  pub secure: bool,
  /// @default true: scripts in the browser cannot read cookies set by backend scripts unless asked.
  pub http_only: bool,
  /// @default 'lax'
  #[napi(ts_type = "'strict' | 'lax' | 'none'")]
  pub same_site: String,
}

impl Default for CookieOptions {
  fn default() -> Self {
    CookieOptions {
      max_age: None,
      path: "/".into(),
      domain: None,
      secure: false,
      http_only: true,
      same_site: "lax".into(),
    }
  }
}

/// How the script answered: `'render'` lets the page render; `'redirect'` came from `redirect()`;
/// `'send'` from `response.send()` or `response.json()`.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
  #[default]
  Render,
  Redirect,
  Send,
}

impl Action {
  pub fn as_str(self) -> &'static str {
    match self {
      Action::Render => "render",
      Action::Redirect => "redirect",
      Action::Send => "send",
    }
  }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
  pub action: Action,
  pub status: Option<u16>,
  /// Lower-case names.
  pub headers: IndexMap<String, String>,
  pub location: Option<String>,
  pub body: Option<String>,
}

impl Response {
  pub fn size(&self) -> usize {
    let headers: usize = self.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    headers
      + self.location.as_ref().map_or(0, String::len)
      + self.body.as_ref().map_or(0, String::len)
  }
}

/// What a successful execution hands back.
#[derive(Debug)]
pub struct ScriptOutput {
  pub response: Response,
  pub variables_json: String,
  pub session_json: String,
  /// What the script changed in the session: `{"set":{…},"deleted":[…]}`.
  pub session_changes_json: String,
  pub session_changed: bool,
  pub cookies: Vec<CookieChange>,
  pub logs: Vec<LogEntry>,
  pub stats: Stats,
}

/// The record of one execution: how it ended, what it cost, and every HTTP request it made. Results
/// carry it as `stats`, and so do the errors of failed executions, so that every execution can be
/// logged and measured the same way.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
  /// `'ok'`, or the `code` of the error the execution failed with.
  #[napi(ts_type = "'ok' | ErrorCode")]
  pub outcome: String,
  /// Wall time from the start of the execution (once it had a slot) to its end, a page's
  /// rendering included; the time it waited for a slot before starting is `queueMs`.
  pub duration_ms: f64,
  /// CPU time spent running the script (and rendering the page).
  pub cpu_ms: f64,
  /// The most memory the sandbox held at once, in bytes, counted as `memoryLimitBytes` counts it
  /// (the runtime's own structures and the host globals included).
  pub peak_memory_bytes: f64,
  /// Time spent waiting for a slot: before starting, and again after each HTTP wait.
  pub queue_ms: f64,
  /// Time spent waiting on HTTP (without a slot).
  pub http_wait_ms: f64,
  /// HTTP requests made, redirect hops and refused ones included.
  pub http_requests: u32,
  /// Each of those requests, in the order they were made.
  pub requests: Vec<HttpRecord>,
  /// Time spent waiting on host functions (without a slot).
  pub host_wait_ms: f64,
  /// Each host function call, in the order they were made.
  pub host_calls: Vec<HostCallRecord>,
}

impl Stats {
  /// The record of an execution that never ran (refused at once, or failed before it started).
  pub fn empty() -> Stats {
    Stats {
      outcome: "ok".into(),
      duration_ms: 0.0,
      cpu_ms: 0.0,
      peak_memory_bytes: 0.0,
      queue_ms: 0.0,
      http_wait_ms: 0.0,
      http_requests: 0,
      requests: Vec::new(),
      host_wait_ms: 0.0,
      host_calls: Vec::new(),
    }
  }
}

/// One call a script made to a host function (`options.functions`).
#[napi(object, object_from_js = false, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostCallRecord {
  /// The function's name.
  pub name: String,
  /// From the call to its answer (or to giving up on it).
  pub duration_ms: f64,
  /// Why the call gave the script no value, as a stable code; `null` when it did: `'threw'` (the
  /// function threw or rejected), `'not-json'` (its value cannot be copied as JSON),
  /// `'timeout'` (`hostCallTimeoutMs`, or the execution's `wallTimeMs`), `'unavailable'` (the
  /// JavaScript environment that started the script is gone) or `'stopped'` (the execution was
  /// stopped while it waited).
  #[napi(ts_type = "'threw' | 'not-json' | 'timeout' | 'unavailable' | 'stopped'")]
  pub error: Option<String>,
}

/// One HTTP request a script made (each redirect hop is one). Only the host of the URL is kept:
/// paths and query strings can hold tokens, and records end up in logs and metrics.
#[napi(object, object_from_js = false, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRecord {
  /// `GET`, `POST`, …
  pub method: String,
  /// The host name or address of the URL (IPv6 in brackets), without port, path or query; `''`
  /// when the URL could not be parsed.
  pub host: String,
  /// The response's status; 0 when there was none (refused, failed, timed out).
  pub status: u32,
  /// Bytes of response body received.
  pub bytes: f64,
  /// From the start of the request to the end of its response (or its failure).
  pub duration_ms: f64,
  /// Why the request got no response, as a stable code; `null` when it got one:
  /// `'invalid-url'`, `'blocked'` (by the egress policy, in the addon), `'proxy-refused'`,
  /// `'proxy-failed'`, `'proxy-auth'`, `'proxy-unreachable'`, `'dns'`, `'timeout'`,
  /// `'budget-spent'`, `'too-large'`, `'tls'` or `'other'`.
  #[napi(
    ts_type = "'invalid-url' | 'blocked' | 'proxy-refused' | 'proxy-failed' | 'proxy-auth' | 'proxy-unreachable' | 'dns' | 'timeout' | 'budget-spent' | 'too-large' | 'tls' | 'other'"
  )]
  pub error: Option<String>,
  /// The rule that refused it, when the egress policy or the proxy did: a policy code
  /// (`'not-allowed-host'`, `'blocked-address'`, …) or one of the proxy's own (`'rate-limited'`,
  /// `'proxy-auth'`, `'connect-failed'`, …); `null` otherwise, and for an `https:` request the
  /// proxy would not tunnel (a tunnel refusal does not reach the client with its reason).
  pub rule: Option<String>,
}

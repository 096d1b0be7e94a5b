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

/// Measurements of one execution.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
  /// Wall time from the start of the execution to its end.
  pub duration_ms: f64,
  /// CPU time spent running the script.
  pub cpu_ms: f64,
  /// HTTP requests made, redirect hops and refused ones included.
  pub http_requests: u32,
}

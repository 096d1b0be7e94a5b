//! `ScriptResult`: what `runBackendScript` resolves with.

use std::collections::HashMap;

use napi::bindgen_prelude::{Either, Null};
use napi_derive::napi;

use crate::api::{CookieChange, LogEntry};
use crate::js::JsonText;
use crate::sandbox::{ScriptOutput, Stats};

/// The outcome of a successful execution.
#[napi(object, object_from_js = false)]
pub struct ScriptResult {
  /// `'render'` lets the page render; `'redirect'` came from `redirect()`; `'send'` from
  /// `response.send()` or `response.json()`.
  #[napi(ts_type = "'render' | 'redirect' | 'send'")]
  pub action: String,
  /// From `response.status()` or `redirect()`; `null` when never set.
  pub status: Either<u32, Null>,
  /// From `response.setHeader()`, lower-case names; `response.json()` adds `content-type`.
  pub headers: HashMap<String, String>,
  /// The redirect target.
  pub location: Either<String, Null>,
  /// The `send()`/`json()` body.
  pub body: Either<String, Null>,
  /// `context.variables` overlaid with `setVariable` calls.
  #[napi(ts_type = "Record<string, unknown>")]
  pub variables: JsonText,
  /// The whole session after the run.
  #[napi(ts_type = "Record<string, unknown>")]
  pub session: JsonText,
  /// Whether `session.set`/`session.delete` changed anything.
  pub session_changed: bool,
  /// Cookies to set (`value` a string) or clear (`value` null), in the order the script left them.
  pub cookies: Vec<CookieChange>,
  /// What the script printed with `console.*`.
  pub logs: Vec<LogEntry>,
  pub stats: Stats,
}

fn nullable<T>(v: Option<T>) -> Either<T, Null> {
  v.map_or(Either::B(Null), Either::A)
}

impl From<ScriptOutput> for ScriptResult {
  fn from(out: ScriptOutput) -> Self {
    let r = out.response;
    ScriptResult {
      action: r.action.as_str().into(),
      status: nullable(r.status.map(u32::from)),
      headers: r.headers.into_iter().collect(),
      location: nullable(r.location),
      body: nullable(r.body),
      variables: JsonText(out.variables_json),
      session: JsonText(out.session_json),
      session_changed: out.session_changed,
      cookies: out.cookies,
      logs: out.logs,
      stats: out.stats,
    }
  }
}

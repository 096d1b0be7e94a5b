//! `ScriptResult`: what `runBackendScript` resolves with. It is serialized to JSON on the executor
//! thread; Node's thread only parses it.

use std::collections::HashMap;

use napi_derive::napi;
use serde::Serialize;

use crate::js::JsonText;
use crate::outcome::{Action, CookieChange, LogEntry, ScriptOutput, Stats};

/// The outcome of a successful execution.
#[napi(object, object_from_js = false, use_nullable = true)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptResult {
  pub action: Action,
  /// From `response.status()` or `redirect()`; `null` when never set.
  pub status: Option<u32>,
  /// From `response.setHeader()`, lower-case names; `response.json()` adds `content-type`.
  pub headers: HashMap<String, String>,
  /// The redirect target.
  pub location: Option<String>,
  /// The `send()`/`json()` body.
  pub body: Option<String>,
  /// `context.variables` overlaid with `setVariable` calls.
  #[napi(ts_type = "Record<string, unknown>")]
  pub variables: JsonText,
  /// The whole session after the run.
  #[napi(ts_type = "Record<string, unknown>")]
  pub session: JsonText,
  /// Whether `session.set`/`session.delete` changed anything.
  pub session_changed: bool,
  /// What they changed, key by key: the keys set (to their new values) and the keys deleted. Keys
  /// set back to the value they had are not in it. Apply these to a session that may have changed
  /// meanwhile, rather than replacing it with `session`.
  #[napi(ts_type = "{ set: Record<string, unknown>; deleted: string[] }")]
  pub session_changes: JsonText,
  /// Cookies to set (`value` a string) or clear (`value` null), in the order the script left them.
  pub cookies: Vec<CookieChange>,
  /// What the script printed with `console.*`.
  pub logs: Vec<LogEntry>,
  pub stats: Stats,
}

impl From<ScriptOutput> for ScriptResult {
  fn from(out: ScriptOutput) -> Self {
    let r = out.response;
    ScriptResult {
      action: r.action,
      status: r.status.map(u32::from),
      headers: r.headers.into_iter().collect(),
      location: r.location,
      body: r.body,
      variables: JsonText(out.variables_json),
      session: JsonText(out.session_json),
      session_changed: out.session_changed,
      session_changes: JsonText(out.session_changes_json),
      cookies: out.cookies,
      logs: out.logs,
      stats: out.stats,
    }
  }
}

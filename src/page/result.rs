//! `PageResult`: the response a page makes, ready to send.

use std::collections::HashMap;

use indexmap::IndexMap;
use napi_derive::napi;

use crate::js::JsonText;
use crate::outcome::{Action, CookieChange, LogEntry, Response, ScriptOutput, Stats};

/// The content type of a rendered page, and of `response.send()` when the script set none.
pub const HTML: &str = "text/html; charset=utf-8";

/// What a page answers, with the session and cookie changes its script made.
#[napi(object, object_from_js = false)]
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageResult {
  /// How the script answered (`'render'` when the page rendered).
  pub action: Action,
  /// From `response.status()` or `redirect()`; otherwise 302 for a redirect and 200 for the rest.
  pub status: u32,
  /// Lower-case names: those the script set, `location` for a redirect, and `content-type`
  /// (`text/html; charset=utf-8` unless the script set one, or `response.json()` did).
  pub headers: HashMap<String, String>,
  /// The rendered page, the `send()`/`json()` body, or `''` for a redirect.
  pub body: String,
  /// `context.variables` overlaid with `setVariable` calls: what the template saw as `var`.
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

/// Whether the page is to be rendered (the script neither redirected nor sent a response).
pub fn renders(out: &ScriptOutput) -> bool {
  out.response.action == Action::Render
}

/// Status, headers and body of the answer.
fn answer(r: Response, rendered: Option<String>) -> (u16, IndexMap<String, String>, String) {
  let mut headers = r.headers;
  let (status, body) = match r.action {
    Action::Redirect => {
      if let Some(location) = r.location {
        headers.insert("location".into(), location);
      }
      return (r.status.unwrap_or(302), headers, String::new());
    }
    Action::Send => (r.status.unwrap_or(200), r.body.unwrap_or_default()),
    Action::Render => (r.status.unwrap_or(200), rendered.unwrap_or_default()),
  };
  headers
    .entry("content-type".into())
    .or_insert_with(|| HTML.into());
  (status, headers, body)
}

impl PageResult {
  /// Builds the result; `rendered` is the page's body when it was rendered.
  pub fn new(out: ScriptOutput, rendered: Option<String>) -> PageResult {
    let action = out.response.action;
    let (status, headers, body) = answer(out.response, rendered);
    PageResult {
      action,
      status: status.into(),
      headers: headers.into_iter().collect(),
      body,
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

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_rendered_page_is_html_with_status_200_unless_set() {
    let (status, headers, body) = answer(Response::default(), Some("<p>hi</p>".into()));
    assert_eq!((status, body.as_str()), (200, "<p>hi</p>"));
    assert_eq!(headers["content-type"], HTML);
    let forbidden = Response {
      status: Some(403),
      ..Default::default()
    };
    assert_eq!(answer(forbidden, Some(String::new())).0, 403);
  }

  #[test]
  fn a_script_set_content_type_is_kept() {
    let mut r = Response::default();
    r.headers.insert("content-type".into(), "text/plain".into());
    let (_, headers, _) = answer(r, Some("x".into()));
    assert_eq!(headers["content-type"], "text/plain");
  }
}

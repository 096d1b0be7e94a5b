//! `redirect(url, status)` and `response.status/setHeader/send/json`: how a script answers instead
//! of letting the page render. `redirect`, `send` and `json` end the script at once.

use crate::header::{is_field_value, is_framing, is_token};
use crate::outcome::{Action, Response};
use rquickjs::function::{Opt, This};
use rquickjs::{Ctx, Exception, Function, Object, Value};

use super::{
  check_running, copy_out, define, define_global, end_script, fail_script, string_arg, type_name,
  Shared,
};

/// Percent-encodes every byte past ASCII.
fn encode_non_ascii(s: &str) -> String {
  let mut out = String::with_capacity(s.len());
  for b in s.bytes() {
    if b.is_ascii() {
      out.push(b as char);
    } else {
      out.push_str(&format!("%{b:02X}"));
    }
  }
  out
}

/// Statuses `redirect` accepts.
pub const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// Header names that belong to the host: framing, connection management, cookies (use `cookie`)
/// and CORS, which a page script must not open up. A `location` goes through the checks of
/// `redirect()` (and is encoded as it encodes it), and a `refresh` may only reload the page, so
/// that no header sends a visitor where `redirect()` would not. Returns the lower-cased name and
/// the value to send.
pub fn check_header(name: &str, value: &str) -> Result<(String, String), String> {
  if !is_token(name) {
    return Err(format!("{name:?} is not a valid header name"));
  }
  let lower = name.to_ascii_lowercase();
  let reserved =
    is_framing(&lower) || lower == "set-cookie" || lower.starts_with("access-control-");
  if reserved {
    let hint = if lower == "set-cookie" {
      " (use cookie.set)"
    } else {
      ""
    };
    return Err(format!(
      "the {lower} header is set by the host, not by scripts{hint}"
    ));
  }
  if lower == "location" {
    let location =
      check_redirect_target(value).map_err(|e| e.replacen("redirect: ", "the location: ", 1))?;
    return Ok((lower, location));
  }
  if lower == "refresh" && !value.trim().bytes().all(|b| b.is_ascii_digit()) {
    return Err("a refresh header may only reload the page (seconds, no URL); use redirect() to send the visitor elsewhere".into());
  }
  if !is_field_value(value) {
    return Err(format!(
      "the value of {lower} holds a control character or a character past U+00FF, which \
       Node cannot send (percent-encode it)"
    ));
  }
  Ok((lower, value.to_string()))
}

/// A redirect goes to a path on this site (`/…` but not `//…`) or to an absolute http(s) URL.
/// Returns the `location` to send: characters past ASCII are percent-encoded as UTF-8, as
/// browsers and Express do, so that the header can be written (`/日本` → `/%E6%97%A5%E6%9C%AC`).
pub fn check_redirect_target(target: &str) -> Result<String, String> {
  // Browsers drop tabs and newlines from URLs and read '\' as '/', so "/\t/evil" and "/\evil"
  // would leave the site: refuse every control character and any backslash.
  if target.chars().any(|c| c.is_control() || c == '\\') {
    return Err("redirect: the URL contains a control character or a backslash".into());
  }
  if target.starts_with('/') {
    if target.starts_with("//") {
      return Err(format!(
        "redirect: {target:?} is a protocol-relative URL; give a path or an absolute http(s) URL"
      ));
    }
    return Ok(encode_non_ascii(target));
  }
  match url::Url::parse(target) {
    Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.has_host() => Ok(u.to_string()),
    Ok(u) => Err(format!(
      "redirect: the {}: scheme is not allowed; use a path or an http(s) URL",
      u.scheme()
    )),
    Err(_) => Err(format!(
      "redirect: {target:?} is neither a path starting with '/' nor an absolute http(s) URL"
    )),
  }
}

fn status_arg<'js>(
  ctx: &Ctx<'js>,
  value: &Value<'js>,
  what: &str,
  allowed: impl Fn(u16) -> bool,
  range: &str,
) -> rquickjs::Result<u16> {
  let Some(n) = value.as_number() else {
    return Err(Exception::throw_type(
      ctx,
      &format!("{what} must be a number, not {}", type_name(value)),
    ));
  };
  if n.fract() == 0.0 && (0.0..=65535.0).contains(&n) && allowed(n as u16) {
    Ok(n as u16)
  } else {
    Err(Exception::throw_range(
      ctx,
      &format!("{what} must be {range}, not {n}"),
    ))
  }
}

fn set_response<'js>(
  ctx: &Ctx<'js>,
  state: &Shared,
  change: impl FnOnce(&mut Response),
) -> rquickjs::Result<()> {
  let mut st = state.borrow_mut();
  let old = st.response.size();
  change(&mut st.response);
  let new = st.response.size();
  if let Err(f) = st.budget.replace(old, new) {
    drop(st);
    return Err(fail_script(ctx, state, f));
  }
  Ok(())
}

pub fn init<'js>(ctx: &Ctx<'js>, state: &Shared) -> rquickjs::Result<()> {
  let s = state.clone();
  let redirect = Function::new(
    ctx.clone(),
    move |ctx: Ctx<'js>, url: Value<'js>, status: Opt<Value<'js>>| -> rquickjs::Result<()> {
      check_running(&ctx, &s)?;
      let url = string_arg(&ctx, &url, "redirect: the URL")?;
      let location = check_redirect_target(&url).map_err(|e| Exception::throw_type(&ctx, &e))?;
      let status = match status.0.filter(|v| !v.is_undefined()) {
        Some(v) => status_arg(
          &ctx,
          &v,
          "redirect: the status",
          |n| REDIRECT_STATUSES.contains(&n),
          "301, 302, 303, 307 or 308",
        )?,
        None => 302,
      };
      set_response(&ctx, &s, |r| {
        r.action = Action::Redirect;
        r.status = Some(status);
        r.location = Some(location);
      })?;
      Err(end_script(&ctx, &s))
    },
  )?
  .with_name("redirect")?;
  define_global(ctx, "redirect", redirect.into_value())?;

  let response = Object::new(ctx.clone())?;
  let s = state.clone();
  define(
    ctx,
    &response,
    "status",
    move |ctx: Ctx<'js>,
          this: This<Value<'js>>,
          code: Value<'js>|
          -> rquickjs::Result<Value<'js>> {
      check_running(&ctx, &s)?;
      let code = status_arg(
        &ctx,
        &code,
        "response.status: the code",
        // 1xx are interim answers that HTTP sends before a final one: never the page's answer.
        |n| (200..=599).contains(&n),
        "an integer from 200 to 599",
      )?;
      set_response(&ctx, &s, |r| r.status = Some(code))?;
      Ok(this.0)
    },
  )?;
  let s = state.clone();
  define(
    ctx,
    &response,
    "setHeader",
    move |ctx: Ctx<'js>,
          this: This<Value<'js>>,
          name: Value<'js>,
          value: Value<'js>|
          -> rquickjs::Result<Value<'js>> {
      check_running(&ctx, &s)?;
      let name = string_arg(&ctx, &name, "response.setHeader: the name")?;
      let value = match value.as_number() {
        Some(n) => n.to_string(),
        None => string_arg(&ctx, &value, "response.setHeader: the value")?,
      };
      let (name, value) = check_header(&name, &value)
        .map_err(|e| Exception::throw_type(&ctx, &format!("response.setHeader: {e}")))?;
      set_response(&ctx, &s, |r| {
        r.headers.insert(name, value);
      })?;
      Ok(this.0)
    },
  )?;
  let s = state.clone();
  define(
    ctx,
    &response,
    "send",
    move |ctx: Ctx<'js>, body: Opt<Value<'js>>| -> rquickjs::Result<()> {
      check_running(&ctx, &s)?;
      let body = match body.0.filter(|v| !v.is_undefined()) {
        Some(v) if v.is_string() => string_arg(&ctx, &v, "response.send: the body")?,
        Some(v) => {
          return Err(Exception::throw_type(
            &ctx,
            &format!(
              "response.send: the body must be a string, not {} (use response.json for data)",
              type_name(&v)
            ),
          ))
        }
        None => String::new(),
      };
      set_response(&ctx, &s, |r| {
        r.action = Action::Send;
        r.body = Some(body);
      })?;
      Err(end_script(&ctx, &s))
    },
  )?;
  let s = state.clone();
  define(
    ctx,
    &response,
    "json",
    move |ctx: Ctx<'js>, value: Value<'js>| -> rquickjs::Result<()> {
      check_running(&ctx, &s)?;
      let body = copy_out(&ctx, value, "response.json")?;
      set_response(&ctx, &s, |r| {
        r.action = Action::Send;
        r.body = Some(body);
        r.headers
          .entry("content-type".into())
          .or_insert_with(|| "application/json; charset=utf-8".into());
      })?;
      Err(end_script(&ctx, &s))
    },
  )?;
  define_global(ctx, "response", response.into_value())
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn redirects_go_to_site_paths_or_absolute_http_urls_only() {
    for (target, location) in [
      ("/login", "/login"),
      ("/a?next=/b#c", "/a?next=/b#c"),
      ("https://example.com/x", "https://example.com/x"),
      ("http://example.com", "http://example.com/"),
      ("/日本?q=é", "/%E6%97%A5%E6%9C%AC?q=%C3%A9"),
      ("https://example.com/é", "https://example.com/%C3%A9"),
    ] {
      assert_eq!(
        check_redirect_target(target).as_deref(),
        Ok(location),
        "{target}"
      );
    }
    for bad in [
      "javascript:alert(1)",
      "data:text/html,hi",
      "//evil.example",
      "/\\evil.example",
      "/\t/evil.example",
      "\\\\evil.example",
      "login",
      "",
      "ftp://example.com/",
      "https://",
      "/ok\r\nset-cookie: x=1",
      "mailto:a@example.com",
    ] {
      assert!(check_redirect_target(bad).is_err(), "{bad:?}");
    }
  }

  #[test]
  fn headers_that_belong_to_the_host_are_refused() {
    let name = |n: &str, v: &str| check_header(n, v).map(|(n, _)| n);
    assert_eq!(name("X-Custom", "1").as_deref(), Ok("x-custom"));
    assert_eq!(
      name("Content-Type", "text/plain").as_deref(),
      Ok("content-type")
    );
    assert_eq!(name("Refresh", "30").as_deref(), Ok("refresh"));
    for name in [
      "Set-Cookie",
      "content-length",
      "Transfer-Encoding",
      "connection",
      "Access-Control-Allow-Origin",
      "access-control-allow-credentials",
    ] {
      assert!(check_header(name, "x").is_err(), "{name}");
    }
    for (name, value) in [
      ("x-a", "a\r\nb"),
      ("x-a", "a\nb"),
      ("x-a", "a\0b"),
      ("bad name", "v"),
      ("", "v"),
      ("x:y", "v"),
      ("x-note", "caf\u{e9} \u{20ac}"),
      ("Location", "//evil.example/x"),
      ("location", "javascript:alert(1)"),
      ("Location", "/\\evil"),
      ("refresh", "0; url=//evil.example"),
    ] {
      assert!(check_header(name, value).is_err(), "{name:?} {value:?}");
    }
    assert_eq!(
      check_header("Location", "/日本").unwrap(),
      ("location".to_string(), "/%E6%97%A5%E6%9C%AC".to_string())
    );
  }
}

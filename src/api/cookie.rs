//! `cookie.set(name, value, options)` and `cookie.delete(name, options)`. Changes are collected and
//! handed to the host, which sets them only when the script succeeded.

use rquickjs::{Ctx, Exception, Object, Value};
use serde_json::Value as Json;

use crate::header::is_token_char;
use crate::outcome::{CookieChange, CookieOptions};

use super::{check_running, copy_out, define, define_global, fail_script, string_arg, Shared};

/// Browsers keep at most about this many bytes of name and value together.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// A cookie name must be an RFC 6265 token.
pub fn check_name(name: &str) -> Result<(), String> {
  if name.is_empty() {
    return Err("the cookie name must not be empty".into());
  }
  let bad = name.bytes().find(|b| !is_token_char(*b));
  match bad {
    Some(b) => Err(format!(
      "the cookie name {name:?} contains {:?}, which a cookie name cannot hold",
      b as char
    )),
    None => Ok(()),
  }
}

/// The longest a cookie may live, in milliseconds: browsers keep none longer than 400 days
/// (RFC 6265bis), and a longer `maxAge` makes no valid `Expires` date.
pub const MAX_AGE_MS: f64 = 400.0 * 24.0 * 3600.0 * 1000.0;

/// A cookie path as the `cookie` module Express uses accepts it: printable ASCII but `;`.
fn check_path(path: &str) -> Result<(), String> {
  if !path.starts_with('/') {
    return Err("options.path must start with '/'".into());
  }
  if !path
    .bytes()
    .all(|b| (0x20..=0x7e).contains(&b) && b != b';')
  {
    return Err(
      "options.path must hold printable ASCII only, without ';' (percent-encode the rest)".into(),
    );
  }
  Ok(())
}

/// A cookie domain as the `cookie` module accepts it: host name labels of letters, digits and
/// inner hyphens, 63 characters at most, with an optional leading dot.
fn check_domain(domain: &str) -> Result<(), String> {
  let labels = domain.strip_prefix('.').unwrap_or(domain);
  let label_ok = |l: &str| {
    let b = l.as_bytes();
    !b.is_empty()
      && b.len() <= 63
      && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
      && b[0] != b'-'
      && b[b.len() - 1] != b'-'
  };
  if labels.split('.').all(label_ok) {
    Ok(())
  } else {
    Err(format!(
      "options.domain {:?} is not a host name (letters, digits and '-' in dot-separated labels)",
      domain.chars().take(64).collect::<String>()
    ))
  }
}

/// Reads the options object a script passed (as JSON), refusing unknown keys and wrong types.
pub fn parse_options(json: &Json, for_delete: bool) -> Result<CookieOptions, String> {
  let mut o = CookieOptions::default();
  let map = match json {
    Json::Null => return Ok(o),
    Json::Object(m) => m,
    _ => return Err("options must be an object".into()),
  };
  for (key, v) in map {
    let wrong = |t: &str| format!("options.{key} must be {t}");
    match (key.as_str(), for_delete) {
      ("path", _) => {
        let p = v.as_str().ok_or_else(|| wrong("a string"))?;
        check_path(p)?;
        o.path = p.to_string();
      }
      ("domain", _) => {
        let d = v.as_str().ok_or_else(|| wrong("a string"))?;
        check_domain(d)?;
        o.domain = Some(d.to_string());
      }
      ("maxAge", false) => {
        let n = v
          .as_f64()
          .filter(|n| n.is_finite() && n.abs() <= MAX_AGE_MS)
          .ok_or_else(|| wrong("a number of milliseconds, at most 400 days (34560000000)"))?;
        o.max_age = Some(n);
      }
      ("secure", false) => o.secure = v.as_bool().ok_or_else(|| wrong("a boolean"))?,
      ("httpOnly", false) => o.http_only = v.as_bool().ok_or_else(|| wrong("a boolean"))?,
      ("sameSite", false) => {
        let s = v.as_str().map(str::to_ascii_lowercase);
        o.same_site = match s.as_deref() {
          Some(s @ ("strict" | "lax" | "none")) => s.to_string(),
          _ => return Err("options.sameSite must be 'strict', 'lax' or 'none'".into()),
        };
      }
      _ => {
        let known = if for_delete {
          "path, domain"
        } else {
          "maxAge, path, domain, secure, httpOnly, sameSite"
        };
        return Err(format!(
          "options.{key} is not a cookie option (known: {known})"
        ));
      }
    }
  }
  if o.same_site == "none" && !o.secure {
    return Err(
      "options.sameSite 'none' requires secure: true; browsers drop such cookies otherwise".into(),
    );
  }
  Ok(o)
}

pub fn init<'js>(ctx: &Ctx<'js>, state: &Shared) -> rquickjs::Result<()> {
  let cookie = Object::new(ctx.clone())?;
  let s = state.clone();
  define(
    ctx,
    &cookie,
    "set",
    move |ctx: Ctx<'js>,
          name: Value<'js>,
          value: Value<'js>,
          options: rquickjs::function::Opt<Value<'js>>| {
      check_running(&ctx, &s)?;
      let name = string_arg(&ctx, &name, "cookie.set: the name")?;
      let value = string_arg(&ctx, &value, "cookie.set: the value")?;
      let options = options_arg(&ctx, options.0, false, "cookie.set")?;
      let checked = check_name(&name).and_then(|_| {
        if name.len() + value.len() > MAX_COOKIE_BYTES {
          Err(format!(
            "name and value together are longer than {MAX_COOKIE_BYTES} bytes"
          ))
        } else {
          Ok(())
        }
      });
      if let Err(e) = checked {
        return Err(Exception::throw_type(&ctx, &format!("cookie.set: {e}")));
      }
      record(
        &ctx,
        &s,
        CookieChange {
          name,
          value: Some(value),
          options,
        },
      )
    },
  )?;
  let s = state.clone();
  define(
    ctx,
    &cookie,
    "delete",
    move |ctx: Ctx<'js>, name: Value<'js>, options: rquickjs::function::Opt<Value<'js>>| {
      check_running(&ctx, &s)?;
      let name = string_arg(&ctx, &name, "cookie.delete: the name")?;
      let options = options_arg(&ctx, options.0, true, "cookie.delete")?;
      if let Err(e) = check_name(&name) {
        return Err(Exception::throw_type(&ctx, &format!("cookie.delete: {e}")));
      }
      record(
        &ctx,
        &s,
        CookieChange {
          name,
          value: None,
          options,
        },
      )
    },
  )?;
  define_global(ctx, "cookie", cookie.into_value())
}

fn options_arg<'js>(
  ctx: &Ctx<'js>,
  options: Option<Value<'js>>,
  for_delete: bool,
  what: &str,
) -> rquickjs::Result<CookieOptions> {
  let json = match options {
    Some(v) if !v.is_undefined() && !v.is_null() => copy_out(ctx, v, what)?,
    _ => return Ok(CookieOptions::default()),
  };
  // copy_out made the text, and bounded its depth: it always parses.
  let json: Json = crate::json::parse_value(&json)
    .map_err(|e| Exception::throw_type(ctx, &format!("{what}: {e}")))?;
  parse_options(&json, for_delete).map_err(|e| Exception::throw_type(ctx, &format!("{what}: {e}")))
}

/// The latest change to a cookie replaces earlier ones with the same name, path and domain.
fn record<'js>(ctx: &Ctx<'js>, state: &Shared, change: CookieChange) -> rquickjs::Result<()> {
  // Every byte the host will hold and send counts: attributes as much as the value.
  let size = |c: &CookieChange| {
    let o = &c.options;
    c.name.len()
      + c.value.as_ref().map_or(0, String::len)
      + o.path.len()
      + o.domain.as_ref().map_or(0, String::len)
      + 64
  };
  let mut st = state.borrow_mut();
  let same = |c: &CookieChange| {
    c.name == change.name
      && c.options.path == change.options.path
      && c.options.domain == change.options.domain
  };
  let old = st.cookies.iter().position(same);
  let old_size = old.map_or(0, |i| size(&st.cookies[i]));
  if let Err(f) = st.budget.replace(old_size, size(&change)) {
    drop(st);
    return Err(fail_script(ctx, state, f));
  }
  if let Some(i) = old {
    st.cookies.remove(i);
  }
  st.cookies.push(change);
  Ok(())
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  #[test]
  fn cookie_names_are_tokens() {
    for ok in ["sid", "a-b_c.d", "X!#$%&'*+^`|~"] {
      assert!(check_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a b", "a=b", "a;b", "é", "a\nb", "(x)", "a,b"] {
      assert!(check_name(bad).is_err(), "{bad:?}");
    }
  }

  #[test]
  fn options_get_secure_defaults_and_refuse_what_is_not_a_cookie_attribute() {
    let o = parse_options(&Json::Null, false).unwrap();
    assert_eq!(
      (o.path.as_str(), o.http_only, o.secure, o.same_site.as_str()),
      ("/", true, false, "lax")
    );
    let o = parse_options(
      &json!({"maxAge": 60000, "sameSite": "Strict", "httpOnly": false, "domain": "example.com"}),
      false,
    )
    .unwrap();
    assert_eq!(o.max_age, Some(60000.0));
    assert_eq!(o.same_site, "strict");
    assert!(!o.http_only);
    let o = parse_options(
      &json!({"domain": ".Example.com", "path": "/a-b/c_d.e%20f", "maxAge": -1}),
      false,
    )
    .unwrap();
    assert_eq!(
      (o.domain.as_deref(), o.path.as_str()),
      (Some(".Example.com"), "/a-b/c_d.e%20f")
    );
    for (bad, why) in [
      (json!({"expires": 1}), "not a cookie option"),
      (json!({"maxAge": "1d"}), "a number of milliseconds"),
      (json!({"path": "x"}), "start with '/'"),
      (json!({"path": "/a;b"}), "';'"),
      (json!({"path": "/é"}), "printable ASCII"),
      (json!({"path": "/a\tb"}), "printable ASCII"),
      (json!({"domain": "a\r\nb"}), "not a host name"),
      (json!({"domain": "exa mple.com"}), "not a host name"),
      (json!({"domain": "-a.com"}), "not a host name"),
      (json!({"domain": "a..com"}), "not a host name"),
      (json!({"maxAge": 1e300}), "at most 400 days"),
      (json!({"maxAge": -1e300}), "at most 400 days"),
      (json!({"sameSite": "none"}), "requires secure"),
      (
        json!({"sameSite": "sometimes"}),
        "'strict', 'lax' or 'none'",
      ),
      (json!(5), "an object"),
    ] {
      let e = parse_options(&bad, false).unwrap_err();
      assert!(e.contains(why), "{bad}: {e}");
    }
    assert!(parse_options(&json!({"maxAge": 1}), true).is_err());
    assert!(parse_options(&json!({"path": "/a"}), true).is_ok());
  }
}

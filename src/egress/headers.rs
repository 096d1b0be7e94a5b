//! Which request headers a script may set. Framing and connection headers belong to the client,
//! `host` to the URL, and anything meant for the proxy (`proxy-*`, forwarding headers) to the host,
//! so a script can never replace or read the proxy's credentials or spoof where it comes from.

use crate::header::{is_field_value, is_framing, is_token};

/// Checks one header a script passed; returns the lower-cased name.
pub fn check_request_header(name: &str, value: &str) -> Result<String, String> {
  if !is_token(name) {
    return Err(format!("{name:?} is not a valid header name"));
  }
  let lower = name.to_ascii_lowercase();
  let forbidden = is_framing(&lower)
    || matches!(lower.as_str(), "host" | "expect" | "forwarded")
    || lower.starts_with("proxy-")
    || lower.starts_with("x-forwarded-");
  if forbidden {
    return Err(format!("the {lower} header cannot be set by scripts"));
  }
  // CR, LF and NUL would split the request; the other controls are not valid in a header value.
  if !is_field_value(value) {
    return Err(format!(
      "the value of {lower} holds a control character or a character past U+00FF \
       (percent-encode it, or send it in the body)"
    ));
  }
  Ok(lower)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn scripts_cannot_set_framing_proxy_or_forwarding_headers() {
    for name in [
      "Host",
      "connection",
      "Content-Length",
      "transfer-encoding",
      "TE",
      "upgrade",
      "keep-alive",
      "trailer",
      "expect",
      "Forwarded",
      "X-Forwarded-For",
      "x-forwarded-host",
      "Proxy-Authorization",
      "proxy-connection",
      "Proxy-Anything",
    ] {
      assert!(check_request_header(name, "x").is_err(), "{name}");
    }
  }

  #[test]
  fn ordinary_headers_pass_lower_cased_and_smuggling_is_refused() {
    assert_eq!(
      check_request_header("Authorization", "Bearer t").as_deref(),
      Ok("authorization")
    );
    assert_eq!(
      check_request_header("X-Api-Key", "k").as_deref(),
      Ok("x-api-key")
    );
    assert_eq!(
      check_request_header("x-forwarded", "k").as_deref(),
      Ok("x-forwarded")
    );
    assert_eq!(
      check_request_header("x-note", "a\tb, caf\u{e9}").as_deref(),
      Ok("x-note")
    );
    for (n, v) in [
      ("x-a", "1\r\nHost: evil"),
      ("x-a", "1\n"),
      ("x-a", "\0"),
      ("x-a", "\u{1}"),
      ("x-a", "\u{7f}"),
      ("x a", "1"),
      ("x:a", "1"),
      ("", "1"),
    ] {
      assert!(check_request_header(n, v).is_err(), "{n:?}: {v:?}");
    }
  }
}

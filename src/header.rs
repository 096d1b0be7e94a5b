//! HTTP syntax shared by every place that takes header or cookie names from users: the script's
//! response headers and cookies, its request headers, and the proxy headers of `proxyConfig`.

/// A token in the sense of RFC 9110 §5.6.2: the syntax of header and cookie names.
pub fn is_token_char(b: u8) -> bool {
  b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub fn is_token(s: &str) -> bool {
  !s.is_empty() && s.bytes().all(is_token_char)
}

/// Headers about the connection and the message's framing (RFC 9110 §7.6.1, §6.4): only the HTTP
/// stack sets them. `lower` is a lower-cased name.
pub fn is_framing(lower: &str) -> bool {
  matches!(
    lower,
    "connection"
      | "keep-alive"
      | "transfer-encoding"
      | "content-length"
      | "te"
      | "trailer"
      | "upgrade"
  )
}

/// A header value as Node writes one (its `validateHeaderValue`): tab, visible ASCII and the
/// Latin-1 range U+0080–U+00FF, nothing else. CR, LF and NUL would split the message; Node
/// refuses the other controls and anything past U+00FF when it writes the header.
pub fn is_field_value(value: &str) -> bool {
  value
    .chars()
    .all(|c| c == '\t' || (' '..='~').contains(&c) || ('\u{80}'..='\u{ff}').contains(&c))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn tokens_are_rfc_9110_tokens() {
    for ok in ["x-a", "Content-Type", "!#$%&'*+-.^_`|~09azAZ"] {
      assert!(is_token(ok), "{ok}");
    }
    for bad in [
      "", "a b", "a:b", "a=b", "a;b", "é", "a\nb", "(x)", "a,b", "a\"b", "a/b",
    ] {
      assert!(!is_token(bad), "{bad:?}");
    }
  }

  #[test]
  fn field_values_are_what_node_writes() {
    assert!(is_field_value("a\tb c"));
    assert!(is_field_value("caf\u{e9} \u{ff}"));
    for bad in [
      "a\rb",
      "a\nb",
      "a\0b",
      "a\x01b",
      "a\x7fb",
      "caf\u{e9} \u{20ac}",
      "\u{65e5}\u{672c}",
      "\u{1f600}",
    ] {
      assert!(!is_field_value(bad), "{bad:?}");
    }
  }
}

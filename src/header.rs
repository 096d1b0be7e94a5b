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

/// A header value may hold no control character but tab: CR, LF and NUL would split the message,
/// and Node refuses the others when it writes the header.
pub fn is_field_value(value: &str) -> bool {
  !value.chars().any(|c| c.is_ascii_control() && c != '\t')
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
  fn field_values_hold_no_control_character_but_tab() {
    assert!(is_field_value("a\tb c"));
    for bad in ["a\rb", "a\nb", "a\0b", "a\x01b", "a\x7fb"] {
      assert!(!is_field_value(bad), "{bad:?}");
    }
  }
}

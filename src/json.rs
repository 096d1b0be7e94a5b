//! JSON text at the boundary between Node and the sandbox, checked the same way in both
//! directions: every value crosses as JSON text (Node's `JSON.stringify` on the way in,
//! QuickJS's on the way out), and both write what strict parsers refuse. Here, in one linear pass
//! with no recursion:
//! - a lone surrogate escape (`"\ud800"`, which both write for a string holding half of a
//!   surrogate pair) becomes `"\ufffd"`, as Node does when it writes such a string as UTF-8; it is
//!   never refused, so that a visitor cannot make their own session unreadable;
//! - nesting deeper than [`MAX_DEPTH`] is refused, so that no parser on either side recurses
//!   without a bound;
//! - a number past the range of a double (QuickJS writes `JSON.rawJSON('1e400')` as it is) is
//!   refused, since it would parse as no number at all.

use std::borrow::Cow;
use std::fmt;

/// The deepest nesting of arrays and objects a value may have.
pub const MAX_DEPTH: usize = 512;

/// Why JSON text cannot cross.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonIssue {
  TooDeep,
  /// The number as written, cut to 32 characters.
  NumberOutOfRange(String),
}

impl fmt::Display for JsonIssue {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      JsonIssue::TooDeep => write!(f, "is nested deeper than {MAX_DEPTH} levels"),
      JsonIssue::NumberOutOfRange(n) => write!(
        f,
        "holds the number {n}, past what a JSON number can carry (about ±1.8e308)"
      ),
    }
  }
}

/// Checks JSON text (as `JSON.stringify` writes it) and mends its lone surrogates.
pub fn well_formed(text: &str) -> Result<Cow<'_, str>, JsonIssue> {
  let s = text.as_bytes();
  let mut mended: Option<String> = None;
  // Bytes of `text` up to here are already in `mended`.
  let mut copied = 0;
  let (mut depth, mut i) = (0usize, 0);
  while i < s.len() {
    match s[i] {
      b'"' => {
        i += 1;
        while i < s.len() && s[i] != b'"' {
          if s[i] != b'\\' {
            i += 1;
            continue;
          }
          if s.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
          }
          let unit = hex4(s, i + 2);
          let paired = match unit {
            Some(0xD800..=0xDBFF) => {
              s.get(i + 6) == Some(&b'\\')
                && s.get(i + 7) == Some(&b'u')
                && matches!(hex4(s, i + 8), Some(0xDC00..=0xDFFF))
            }
            _ => true,
          };
          let lone = match unit {
            Some(0xD800..=0xDBFF) => !paired,
            Some(0xDC00..=0xDFFF) => true,
            _ => false,
          };
          if lone {
            let out = mended.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..i]);
            out.push_str("\\ufffd");
            copied = i + 6;
            i += 6;
          } else if unit.is_some_and(|u| (0xD800..=0xDBFF).contains(&u)) {
            i += 12;
          } else {
            i += 6;
          }
        }
        i += 1;
      }
      b'[' | b'{' => {
        depth += 1;
        if depth > MAX_DEPTH {
          return Err(JsonIssue::TooDeep);
        }
        i += 1;
      }
      b']' | b'}' => {
        depth = depth.saturating_sub(1);
        i += 1;
      }
      b'-' | b'0'..=b'9' => {
        let start = i;
        while i < s.len() && matches!(s[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
          i += 1;
        }
        let number = &text[start..i];
        if number.parse::<f64>().is_ok_and(f64::is_infinite) {
          return Err(JsonIssue::NumberOutOfRange(
            number.chars().take(32).collect(),
          ));
        }
      }
      _ => i += 1,
    }
  }
  Ok(match mended {
    None => Cow::Borrowed(text),
    Some(mut out) => {
      out.push_str(&text[copied..]);
      Cow::Owned(out)
    }
  })
}

fn hex4(s: &[u8], at: usize) -> Option<u32> {
  let digits = std::str::from_utf8(s.get(at..at + 4)?).ok()?;
  u32::from_str_radix(digits, 16).ok()
}

/// Parses JSON text that [`well_formed`] accepted into a value: its depth is bounded, so the
/// parser's own recursion limit (128) is lifted.
pub fn parse_value(text: &str) -> serde_json::Result<serde_json::Value> {
  let mut de = serde_json::Deserializer::from_str(text);
  de.disable_recursion_limit();
  serde::Deserialize::deserialize(&mut de)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
    let rows = [
      (r#""plain""#, r#""plain""#),
      (r#""a\ud800b""#, r#""a\ufffdb""#),
      (r#""\udc00""#, r#""\ufffd""#),
      (r#""\ud800\ud800\udc00""#, r#""\ufffd\ud800\udc00""#),
      (r#""\ud83d\ude00""#, r#""\ud83d\ude00""#),
      (r#"{"\udbff":"\ud800"}"#, r#"{"\ufffd":"\ufffd"}"#),
      (r#""\\ud800""#, r#""\\ud800""#),
      (r#""\ud800\n""#, r#""\ufffd\n""#),
      (r#"["\u0041", "\ud800"]"#, r#"["\u0041", "\ufffd"]"#),
    ];
    for (text, expected) in rows {
      assert_eq!(well_formed(text).unwrap(), expected, "{text}");
      assert!(parse_value(&well_formed(text).unwrap()).is_ok(), "{text}");
    }
    assert!(matches!(
      well_formed(r#""\ud83d\ude00""#).unwrap(),
      Cow::Borrowed(_)
    ));
  }

  #[test]
  fn nesting_is_bounded_and_brackets_in_strings_do_not_count() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(well_formed(&deep(MAX_DEPTH)).is_ok());
    assert!(parse_value(&deep(MAX_DEPTH)).is_ok());
    assert_eq!(well_formed(&deep(MAX_DEPTH + 1)), Err(JsonIssue::TooDeep));
    assert_eq!(well_formed(&"[".repeat(1_000_000)), Err(JsonIssue::TooDeep));
    let in_string = format!("[\"{}\"]", "[".repeat(10_000));
    assert!(well_formed(&in_string).is_ok());
    let siblings = format!("[{}]", vec!["[[1]]"; 10_000].join(","));
    assert!(well_formed(&siblings).is_ok());
  }

  #[test]
  fn numbers_past_a_double_are_refused_and_others_pass() {
    for ok in [
      "0",
      "-1.5e-400",
      "1.7976931348623157e308",
      "[1e2,-0,3.25]",
      r#""1e999""#,
    ] {
      assert!(well_formed(ok).is_ok(), "{ok}");
    }
    for bad in ["1e400", "[-1e309]", r#"{"a":2e999999}"#] {
      assert!(
        matches!(well_formed(bad), Err(JsonIssue::NumberOutOfRange(_))),
        "{bad}"
      );
    }
    let message = well_formed(&format!("1{}e999", "0".repeat(100)))
      .unwrap_err()
      .to_string();
    assert!(
      message.starts_with(&format!("holds the number 1{}, past", "0".repeat(31))),
      "{message}"
    );
  }
}

//! Where Jinja constructs start and end in a page, by minijinja's own lexical rules: finding the
//! backend blocks (`extract`) and bounding expressions (`template`) both rely on reading the page
//! exactly as minijinja will. A construct minijinja reads as text but this module took for
//! Jinja, or the reverse, could hide a backend block from the extractor and show its source.
//!
//! The rules, from minijinja 3's lexer:
//! - `{{ … }}` and `{% … %}` end at the first `}}` / `%}` outside string literals and outside
//!   brackets (`(`, `[`, `{` that are still open); strings are quoted with `'` or `"` and `\`
//!   escapes the next character;
//! - `{# … #}` ends at the first `#}`;
//! - `{% raw %}` (only `-` and `+` as whitespace control, ASCII whitespace around the word) makes
//!   everything text up to the first `{% endraw %}` of the same form.

/// Every construct of `text`, in order, with where it starts: one pass, raw blocks read as text.
pub fn constructs(text: &[u8]) -> impl Iterator<Item = (usize, Construct)> + '_ {
  let (mut i, mut raw) = (0, false);
  std::iter::from_fn(move || {
    while i < text.len() {
      if text[i] != b'{' {
        i += 1;
        continue;
      }
      let start = i;
      if raw {
        match endraw_at(text, i) {
          Some(end) => {
            raw = false;
            i = end;
            return Some((
              start,
              Construct {
                end,
                opens_raw: false,
                operators: 0,
              },
            ));
          }
          None => i += 1,
        }
        continue;
      }
      match construct_at(text, i) {
        Some(c) => {
          raw = c.opens_raw;
          i = c.end;
          return Some((start, c));
        }
        None => i += 1,
      }
    }
    None
  })
}

/// The page with every Jinja construct blanked (each of its bytes made an `x`), so that an HTML
/// scanner reads it as minijinja's output will be read, with the constructs' own text left out.
/// Offsets are the page's own.
pub fn masked(page: &str) -> Vec<u8> {
  let mut bytes = page.as_bytes().to_vec();
  for (start, c) in constructs(page.as_bytes()) {
    bytes[start..c.end].fill(b'x');
  }
  bytes
}

/// A construct and where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Construct {
  /// Just past its closing delimiter, or the end of the text when it never closes.
  pub end: usize,
  /// `{% raw %}`: what follows is text up to its `{% endraw %}`.
  pub opens_raw: bool,
  /// Operators, calls, attribute and item lookups in it (see `template::MAX_OPERATORS`).
  pub operators: usize,
}

/// The construct that starts at `i`, if one does.
pub fn construct_at(s: &[u8], i: usize) -> Option<Construct> {
  if s.get(i) != Some(&b'{') {
    return None;
  }
  let close: &[u8] = match s.get(i + 1)? {
    b'{' => b"}}",
    b'%' => b"%}",
    b'#' => {
      let end = find(s, i + 2, b"#}").map_or(s.len(), |p| p + 2);
      return Some(Construct {
        end,
        opens_raw: false,
        operators: 0,
      });
    }
    _ => return None,
  };
  let (mut j, mut balance, mut operators) = (i + 2, 0isize, 0usize);
  let mut word_start = None;
  let end = loop {
    let Some(&b) = s.get(j) else {
      break s.len();
    };
    if balance == 0 && s[j..].starts_with(close) {
      break j + 2;
    }
    if b.is_ascii_alphanumeric() || b == b'_' {
      word_start.get_or_insert(j);
      j += 1;
      continue;
    }
    if let Some(w) = word_start.take() {
      if matches!(&s[w..j], b"not" | b"and" | b"or" | b"in" | b"is" | b"if") {
        operators += 1;
      }
    }
    match b {
      b'"' | b'\'' => {
        j += 1;
        while j < s.len() && s[j] != b {
          j += if s[j] == b'\\' { 2 } else { 1 };
        }
      }
      b'(' | b'[' | b'{' => {
        balance += 1;
        operators += 1;
      }
      b')' | b']' | b'}' => balance -= 1,
      // A decimal point is not an attribute lookup.
      b'.'
        if j > 0 && s[j - 1].is_ascii_digit() && s.get(j + 1).is_some_and(u8::is_ascii_digit) => {}
      b'+' | b'-' | b'*' | b'/' | b'%' | b'~' | b'|' | b'.' | b'<' | b'>' | b'=' | b'!' => {
        operators += 1
      }
      _ => {}
    }
    j += 1;
  };
  let opens_raw = close == b"%}" && is_tag(&s[i..end.min(s.len())], b"raw");
  Some(Construct {
    end,
    opens_raw,
    operators,
  })
}

/// Inside a raw block: when `{% endraw %}` starts at `i`, the index just past it. Looks at that
/// tag only, as minijinja does: nothing past it is searched.
pub fn endraw_at(s: &[u8], i: usize) -> Option<usize> {
  let rest = s.get(i..)?.strip_prefix(b"{%")?;
  Some(i + 2 + tag_length(rest, b"endraw")?)
}

/// Whether `tag` (`{%` to `%}`) is `{% word %}`, with minijinja's whitespace control.
fn is_tag(tag: &[u8], word: &[u8]) -> bool {
  tag
    .strip_prefix(b"{%")
    .and_then(|rest| tag_length(rest, word))
    .is_some_and(|n| n + 2 == tag.len())
}

/// minijinja's `skip_basic_tag`: after `{%`, an optional `-` or `+`, ASCII whitespace, `word`,
/// ASCII whitespace, an optional `-` or `+`, and `%}`; the length of all that.
fn tag_length(rest: &[u8], word: &[u8]) -> Option<usize> {
  let ws_control = |p: &[u8]| -> usize { usize::from(matches!(p.first(), Some(b'-' | b'+'))) };
  let spaces = |p: &[u8]| p.iter().take_while(|b| b.is_ascii_whitespace()).count();
  let mut at = ws_control(rest);
  at += spaces(&rest[at..]);
  if !rest[at..].starts_with(word) {
    return None;
  }
  at += word.len();
  at += spaces(&rest[at..]);
  at += ws_control(&rest[at..]);
  rest[at..].starts_with(b"%}").then_some(at + 2)
}

fn find(s: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
  s.get(from..)?
    .windows(needle.len())
    .position(|w| w == needle)
    .map(|p| from + p)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn end(text: &str) -> usize {
    construct_at(text.as_bytes(), 0).unwrap().end
  }

  #[test]
  fn constructs_end_where_minijinja_ends_them() {
    let rows = [
      ("{{ a }}x", 7),
      ("{{ '}}' }}x", 10),
      ("{{ \"\\\"}}\" }}x", 12),
      ("{{ {'a': {'b': 1}} }}x", 21),
      ("{{ [1, [2]] }}x", 14),
      ("{{ f(')') }}x", 12),
      ("{{ a -}}x", 8),
      ("{% if a %}x", 10),
      ("{% set x = {'a': 1} %}x", 22),
      ("{# {{ '#}' }} #}x", 9),
      ("{{ ) }}", 7),
      ("{{ a", 4),
    ];
    for (text, expected) in rows {
      assert_eq!(end(text), expected, "{text}");
    }
    assert_eq!(construct_at(b"{ {", 0), None);
  }

  #[test]
  fn raw_opens_and_closes_with_minus_or_plus_only() {
    for open in [
      "{% raw %}",
      "{%- raw -%}",
      "{%raw%}",
      "{%+ raw +%}",
      "{%  raw\n%}",
    ] {
      assert!(
        construct_at(open.as_bytes(), 0).unwrap().opens_raw,
        "{open}"
      );
    }
    for not in [
      "{% raw x %}",
      "{%~ raw %}",
      "{% raw ~%}",
      "{% rawx %}",
      "{{ raw }}",
    ] {
      assert!(!construct_at(not.as_bytes(), 0).unwrap().opens_raw, "{not}");
    }
    for close in [
      "{% endraw %}",
      "{%- endraw -%}",
      "{%endraw%}",
      "{%+endraw+%}",
    ] {
      assert_eq!(endraw_at(close.as_bytes(), 0), Some(close.len()), "{close}");
    }
    for not in [
      "{%~ endraw %}",
      "{% endraw ~%}",
      "{% endraw x %}",
      "{{ endraw }}",
    ] {
      assert_eq!(endraw_at(not.as_bytes(), 0), None, "{not}");
    }
  }

  #[test]
  fn masking_blanks_constructs_and_leaves_raw_text_as_text() {
    let page = "a{{ '<b>' }}c{% raw %}<s>{{ x }}{% endraw %}{# <!-- #}e";
    let masked = String::from_utf8(masked(page)).unwrap();
    assert_eq!(masked.len(), page.len());
    assert_eq!(
      masked,
      format!(
        "a{}c{}<s>{{{{ x }}}}{}{}e",
        "x".repeat(11),
        "x".repeat(9),
        "x".repeat(12),
        "x".repeat(10)
      )
    );
  }

  #[test]
  fn operators_are_counted_outside_strings() {
    let count = |t: &str| construct_at(t.as_bytes(), 0).unwrap().operators;
    assert_eq!(count("{{ a.b|upper ~ 'x+y' }}"), 3);
    assert_eq!(count("{{ not a and b }}"), 2);
    assert_eq!(count("{{ 1.5 + f(2) }}"), 2);
  }
}

//! Finding a page's `<script scope="backend">` blocks with a browser's eyes: tags, attributes,
//! comments, raw-text elements and the end of a script are found by the rules of the HTML
//! tokenizer, so exactly the text a browser would treat as one script is taken out.
//!
//! The page is also a Jinja template, and the browser only ever sees it rendered, so Jinja
//! constructs (`{{ … }}`, `{% … %}`, `{# … #}`) are opaque text here: a `<` or a `-->` inside
//! them never opens a tag or closes a comment. They are found first, by minijinja's own lexical
//! rules (`super::jinja`), and blanked; the HTML scan then reads the page without them.
//!
//! Every loop moves forward and every tag, comment and element is jumped over once read, so the
//! scan is linear in the page.

use std::ops::Range;

/// A part of the page removed from the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
  /// What is removed: a whole `<script scope="backend">…</script>` element, or a comment that
  /// holds one.
  pub range: Range<usize>,
  /// The script text to run; `None` for a commented-out block, which is removed but not run.
  pub script: Option<Range<usize>>,
}

/// Every cut the page needs, in document order.
pub fn find_cuts(page: &str) -> Vec<Cut> {
  let masked = super::jinja::masked(page);
  Scanner { s: &masked }.document()
}

/// The page without its cuts: the template to render.
pub fn without_cuts(page: &str, cuts: &[Cut]) -> String {
  let mut out = String::with_capacity(page.len());
  let mut pos = 0;
  for cut in cuts {
    out.push_str(&page[pos..cut.range.start]);
    pos = cut.range.end;
  }
  out.push_str(&page[pos..]);
  out
}

/// Elements whose content is text up to their own end tag. `noscript` is not one of them: it is
/// parsed as markup (as a browser without scripting does), so a backend block inside it is found
/// and removed rather than left in the output.
const RAW_TEXT: [&[u8]; 7] = [
  b"style",
  b"xmp",
  b"iframe",
  b"noembed",
  b"noframes",
  b"title",
  b"textarea",
];

struct Tag {
  name: Vec<u8>,
  backend: bool,
  /// Just past the closing `>`, or the end of the page when it never closes.
  end: usize,
}

#[derive(Clone, Copy)]
enum ScriptState {
  Data,
  Escaped,
  DoubleEscaped,
}

struct Scanner<'a> {
  /// The page with its Jinja constructs blanked.
  s: &'a [u8],
}

fn is_space(b: u8) -> bool {
  matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

impl Scanner<'_> {
  fn at(&self, i: usize, text: &[u8]) -> bool {
    self.s.len() >= i + text.len() && self.s[i..i + text.len()].eq_ignore_ascii_case(text)
  }

  /// `</name` or `<name` (given without `<`) followed by what ends a tag name.
  fn at_tag(&self, i: usize, name_with_slash: &[u8]) -> bool {
    self.at(i, b"<")
      && self.at(i + 1, name_with_slash)
      && self
        .s
        .get(i + 1 + name_with_slash.len())
        .is_some_and(|&b| is_space(b) || b == b'/' || b == b'>')
  }

  fn document(&mut self) -> Vec<Cut> {
    let mut cuts = Vec::new();
    let mut i = 0;
    while i < self.s.len() {
      if self.s[i] != b'<' {
        i += 1;
        continue;
      }
      let next = self.s.get(i + 1).copied().unwrap_or(0);
      if self.at(i, b"<!--") {
        let end = self.comment_end(i + 4);
        if self.holds_backend_tag(i + 4..end) {
          cuts.push(Cut {
            range: i..end,
            script: None,
          });
        }
        i = end;
      } else if next == b'!' || next == b'?' {
        i = self.bogus_comment_end(i + 2);
      } else if next == b'/' {
        match self.s.get(i + 2) {
          Some(b) if b.is_ascii_alphabetic() => i = self.tag(i + 2).end,
          Some(b'>') => i += 3,
          Some(_) => i = self.bogus_comment_end(i + 2),
          None => i += 2,
        }
      } else if next.is_ascii_alphabetic() {
        let tag = self.tag(i + 1);
        if tag.name == b"script" {
          let (content_end, end) = self.script_end(tag.end);
          if tag.backend {
            cuts.push(Cut {
              range: i..end,
              script: Some(tag.end..content_end),
            });
          }
          i = end;
        } else if tag.name == b"plaintext" {
          i = self.s.len();
        } else if RAW_TEXT.contains(&tag.name.as_slice()) {
          i = self.raw_text_end(tag.end, &tag.name);
        } else {
          i = tag.end;
        }
      } else {
        i += 1;
      }
    }
    cuts
  }

  /// Reads a start or end tag from its name (at `i`) to its `>`: attributes, quoted values and
  /// all, so that a `>` inside a quoted value does not end it.
  fn tag(&mut self, mut i: usize) -> Tag {
    let s = self.s;
    let start = i;
    while i < s.len() && !is_space(s[i]) && s[i] != b'/' && s[i] != b'>' {
      i += 1;
    }
    let name = s[start..i].to_ascii_lowercase();
    let mut backend = false;
    loop {
      while i < s.len() && (is_space(s[i]) || s[i] == b'/') {
        i += 1;
      }
      if i >= s.len() {
        return Tag {
          name,
          backend,
          end: s.len(),
        };
      }
      if s[i] == b'>' {
        return Tag {
          name,
          backend,
          end: i + 1,
        };
      }
      let attr_start = i;
      i += 1; // the first character is part of the name, even `=`
      while i < s.len() && !is_space(s[i]) && !matches!(s[i], b'/' | b'>' | b'=') {
        i += 1;
      }
      let attr = &s[attr_start..i];
      while i < s.len() && is_space(s[i]) {
        i += 1;
      }
      if s.get(i) != Some(&b'=') {
        continue;
      }
      i += 1;
      while i < s.len() && is_space(s[i]) {
        i += 1;
      }
      let value = match s.get(i) {
        Some(q @ (b'"' | b'\'')) => {
          let from = i + 1;
          i = from;
          while i < s.len() && s[i] != *q {
            i += 1;
          }
          let to = i.min(s.len());
          i = (i + 1).min(s.len());
          &s[from..to]
        }
        _ => {
          let from = i;
          while i < s.len() && !is_space(s[i]) && s[i] != b'>' {
            i += 1;
          }
          &s[from..i.min(s.len())]
        }
      };
      // Any `scope` attribute that says backend counts, even a duplicate a browser would ignore:
      // taking a block out is always safe, leaving it in would show its source.
      if attr.eq_ignore_ascii_case(b"scope") && value.trim_ascii().eq_ignore_ascii_case(b"backend")
      {
        backend = true;
      }
    }
  }

  /// From the start of a script's content: where the content ends and where its end tag ends.
  /// Follows the tokenizer's script data states, including the escaped states that `<!--` and
  /// `<script` open, in which `</script>` does not always end the script.
  fn script_end(&mut self, mut i: usize) -> (usize, usize) {
    let mut state = ScriptState::Data;
    let mut dashes = 0;
    while i < self.s.len() {
      let b = self.s[i];
      match state {
        ScriptState::Data => {
          if self.at_tag(i, b"/script") {
            return (i, self.tag(i + 2).end);
          }
          if self.at(i, b"<!--") {
            state = ScriptState::Escaped;
            dashes = 2;
            i += 4;
            continue;
          }
        }
        ScriptState::Escaped | ScriptState::DoubleEscaped => {
          if b == b'-' {
            dashes += 1;
            i += 1;
            continue;
          }
          if b == b'>' && dashes >= 2 {
            state = ScriptState::Data;
            dashes = 0;
            i += 1;
            continue;
          }
          dashes = 0;
          if matches!(state, ScriptState::Escaped) {
            if self.at_tag(i, b"/script") {
              return (i, self.tag(i + 2).end);
            }
            if self.at_tag(i, b"script") {
              state = ScriptState::DoubleEscaped;
              i += 8; // `<script` and the character after it
              continue;
            }
          } else if self.at_tag(i, b"/script") {
            state = ScriptState::Escaped;
            i += 9;
            continue;
          }
        }
      }
      i += 1;
    }
    (self.s.len(), self.s.len())
  }

  /// From the start of a raw-text element's content: just past its end tag.
  fn raw_text_end(&mut self, mut i: usize, name: &[u8]) -> usize {
    let mut end_tag = vec![b'/'];
    end_tag.extend_from_slice(name);
    while i < self.s.len() {
      if self.at_tag(i, &end_tag) {
        return self.tag(i + 2).end;
      }
      i += 1;
    }
    self.s.len()
  }

  /// From just after `<!--`: just past the comment's end (`-->`, `--!>`, or the abrupt `<!-->`
  /// and `<!--->`), or the end of the page.
  fn comment_end(&mut self, mut i: usize) -> usize {
    if self.at(i, b">") {
      return i + 1;
    }
    if self.at(i, b"->") {
      return i + 2;
    }
    while i < self.s.len() {
      if self.at(i, b"-->") {
        return i + 3;
      } else if self.at(i, b"--!>") {
        return i + 4;
      }
      i += 1;
    }
    self.s.len()
  }

  fn bogus_comment_end(&self, i: usize) -> usize {
    self.s[i.min(self.s.len())..]
      .iter()
      .position(|&b| b == b'>')
      .map_or(self.s.len(), |p| i + p + 1)
  }

  /// Whether a comment holds what would be a backend script tag if it were not commented out.
  /// Tags are read as a browser would read them were the comment gone, one after the other: a
  /// tag is jumped over once read, so a comment full of unclosed tags costs one pass.
  fn holds_backend_tag(&mut self, range: Range<usize>) -> bool {
    let mut i = range.start;
    let mut found = false;
    while i < range.end && !found {
      if self.at_tag(i, b"script") {
        let tag = self.tag(i + 1);
        found = tag.backend;
        i = tag.end.max(i + 1);
      } else {
        i += 1;
      }
    }
    found
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// The scripts found and the template left, for a page.
  fn split(page: &str) -> (Vec<&str>, String) {
    let cuts = find_cuts(page);
    let scripts = cuts
      .iter()
      .filter_map(|c| c.script.clone())
      .map(|r| &page[r])
      .collect();
    (scripts, without_cuts(page, &cuts))
  }

  #[test]
  fn finds_backend_blocks_whatever_the_case_quoting_and_other_attributes() {
    let cases = [
      (r#"<script scope="backend">A</script>"#, "A"),
      (r#"<script scope='backend'>A</script>"#, "A"),
      (r#"<script scope=backend>A</script>"#, "A"),
      (r#"<SCRIPT SCOPE="BACKEND">A</SCRIPT>"#, "A"),
      (r#"<Script Scope="Backend">A</sCrIpT>"#, "A"),
      (r#"<script id="x" scope="backend" data-y>A</script>"#, "A"),
      (
        r#"<script data-y scope = "backend" type="text/javascript">A</script>"#,
        "A",
      ),
      (r#"<script scope=" backend ">A</script>"#, "A"),
      (
        r#"<script
            scope="backend"
          >A</script>"#,
        "A",
      ),
      (r#"<script/scope=backend>A</script>"#, "A"),
      (r#"<script scope="backend" title="a > b">A</script>"#, "A"),
      (r#"<script scope="client" scope="backend">A</script>"#, "A"),
      (r#"<script scope="backend">A</script >"#, "A"),
      (r#"<script scope="backend">A</script foo="</script>">"#, "A"),
      (r#"<script scope="backend">A</script/>"#, "A"),
    ];
    for (page, script) in cases {
      let wrapped = format!("x{page}y");
      let (scripts, rest) = split(&wrapped);
      assert_eq!(scripts, [script], "{page}");
      assert_eq!(rest, "xy", "{page}");
    }
  }

  #[test]
  fn leaves_other_scripts_and_look_alikes_as_they_are() {
    for page in [
      "<script>var a = 1;</script>",
      r#"<script scope="frontend">A</script>"#,
      r#"<script data-scope="backend">A</script>"#,
      r#"<script type="module">import x from "y";</script>"#,
      r#"<scripts scope="backend">A</scripts>"#,
      r#"<div title='<script scope="backend">A</script>'>x</div>"#,
      r#"<textarea><script scope="backend">A</script></textarea>"#,
      r#"<title><script scope="backend">A</script></title>"#,
      r#"<style>/* <script scope="backend">A</script> */</style>"#,
      r#"<script>var s = '<script scope="backend">A';</script>"#,
      r#"<p>{{ "<script scope='backend'>" }}</p>"#,
      "<p>a < b and c > d</p>",
    ] {
      let (scripts, rest) = split(page);
      assert!(scripts.is_empty(), "{page}");
      assert_eq!(rest, page, "{page}");
    }
  }

  #[test]
  fn ends_a_script_where_a_browser_does() {
    let cases = [
      // The first `</script` followed by space, `/` or `>` ends it, in any case.
      ("A</scripts>B</script>", "A</scripts>B"),
      ("A</script\tfoo>", "A"),
      ("A</SCRIPT>", "A"),
      // Inside `<!--` a `<script>` opens a double-escaped section the next `</script>` only closes.
      (
        "A<!--<script>B</script>C</script>",
        "A<!--<script>B</script>C",
      ),
      ("A<!-- B --></script>", "A<!-- B -->"),
      ("A<!--<script>B--></script>", "A<!--<script>B-->"),
      ("A<!--></script>", "A<!-->"),
      // No end tag: the script runs to the end of the page.
      ("A </scrip", "A </scrip"),
    ];
    for (content, script) in cases {
      let page = format!(r#"<script scope="backend">{content}"#);
      let (scripts, rest) = split(&page);
      assert_eq!(scripts, [script], "{content}");
      assert_eq!(rest, "", "{content}");
    }
  }

  #[test]
  fn keeps_document_order_and_leaves_the_rest_byte_for_byte() {
    let page = "<h1>{{ var.a }}</h1>\n<script scope=backend>one()</script>\n<script>client()</script>\n<p>x</p><script scope=\"backend\">two()</script>end";
    let (scripts, rest) = split(page);
    assert_eq!(scripts, ["one()", "two()"]);
    assert_eq!(
      rest,
      "<h1>{{ var.a }}</h1>\n\n<script>client()</script>\n<p>x</p>end"
    );
  }

  #[test]
  fn drops_comments_that_hold_a_backend_block_without_running_it() {
    let page = r#"a<!-- old: <script scope="backend">secret()</script> -->b<!-- keep -->c"#;
    let (scripts, rest) = split(page);
    assert!(scripts.is_empty());
    assert_eq!(rest, "ab<!-- keep -->c");
  }

  #[test]
  fn jinja_constructs_never_open_tags_or_hide_blocks() {
    let page = r#"{% if a<b %}<script scope="backend">A</script>{% endif %}{# <!-- #}<script scope="backend">B</script>"#;
    let (scripts, rest) = split(page);
    assert_eq!(scripts, ["A", "B"]);
    assert_eq!(rest, "{% if a<b %}{% endif %}{# <!-- #}");

    // In a client script, a Jinja comment does not start an escaped section.
    let page = r#"<script>{# <!--<script> #}</script><script scope="backend">B</script>"#;
    assert_eq!(split(page).0, ["B"]);

    // `{% raw %}` makes Jinja syntax plain text again.
    let page = r#"{% raw %}{{ <script scope="backend">A</script> }}{% endraw %}"#;
    assert_eq!(split(page).0, ["A"]);
  }

  #[test]
  fn jinja_inside_a_tag_does_not_unbalance_its_quotes() {
    let page = r#"<div {{ '"' }} title="{{ '"' }}"><script scope="backend">A</script>"#;
    assert_eq!(split(page).0, ["A"]);
  }

  /// Runs `f` on a thread of its own, and fails if it takes more than a few seconds: the inputs
  /// given to it take milliseconds in linear time and hours in quadratic time.
  fn linear<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(std::time::Duration::from_secs(20))
      .expect("took far longer than a linear pass would")
  }

  #[test]
  fn pages_built_to_make_the_scan_quadratic_take_one_pass() {
    let n = 400_000;
    for page in [
      format!("<!--{}", "<script a ".repeat(n)),
      format!("{{% raw %}}{}", "{%".repeat(n)),
      format!("{{% raw %}}{}", "{% endraw ".repeat(n)),
      format!("<!--{}", "<script scope=backend ".repeat(n / 2)),
      format!("<script scope=backend>{}", "<!--<script>".repeat(n)),
      format!("<div {}", "{{ ' ".repeat(n)),
      format!("<textarea>{}", "</textarea ".repeat(n)),
      "{{ ".repeat(n),
    ] {
      let cuts = linear(move || find_cuts(&page).len());
      assert!(cuts <= 1);
    }
  }

  #[test]
  fn raw_blocks_end_at_their_endraw_in_any_spelling() {
    for endraw in [
      "{% endraw %}",
      "{%- endraw -%}",
      "{%endraw%}",
      "{%+ endraw +%}",
    ] {
      let page = format!(
        r#"{{% raw %}}{{% if %}}{{{{ {endraw}{{{{ "<script scope=backend>" }}}}<script scope=backend>A</script>"#
      );
      assert_eq!(split(&page).0, ["A"], "{endraw}");
    }
    // Not an endraw: the block stays raw, and the script inside it is found all the same.
    for not in ["{% endraw x %}", "{%~ endraw %}"] {
      let page = format!(r#"{{% raw %}}{not}<script scope=backend>A</script>"#);
      assert_eq!(split(&page).0, ["A"], "{not}");
    }
  }

  #[test]
  fn a_bracket_in_an_expression_does_not_end_it_early() {
    // minijinja reads `}}` inside an open `{` as two closing braces, not the end: so must we, or
    // the `<textarea>` in the string would seem to swallow the block after the expression.
    let page = r#"{{ {'a': {'b': 1}} ~ '<textarea>' }}<script scope=backend>secret</script>"#;
    assert_eq!(split(page).0, ["secret"]);
  }

  #[test]
  fn unfinished_markup_does_not_panic() {
    for page in [
      "<",
      "<script",
      "<script scope=",
      "<script scope=\"backend",
      "<script scope=backend",
      "<script scope=backend>",
      "<!--",
      "<!",
      "</",
      "{{",
      "{% raw %}",
      "<script scope=backend>A<!--<script",
      "<textarea>",
      "é<scrïpt>ü",
    ] {
      let (scripts, rest) = split(page);
      assert!(scripts.len() <= 1, "{page}");
      assert!(rest.len() <= page.len(), "{page}");
    }
  }
}

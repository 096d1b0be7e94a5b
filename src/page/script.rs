//! One script from all of a page's backend blocks, laid out so that every block sits at the same
//! line and column as in the page: errors then carry the page's own positions and need no mapping.

use std::ops::Range;

/// Joins the blocks in document order. Everything between them is blanked: line breaks are kept,
/// every other character becomes as many spaces as it has bytes (QuickJS counts columns in bytes).
/// A `;` in the blank space between two blocks keeps them separate statements, as separate
/// `<script>` elements are; it goes after the last line break, so that a `//` comment ending the
/// previous block cannot swallow it.
pub fn combined_source(page: &str, blocks: &[Range<usize>]) -> String {
  let mut out = String::with_capacity(blocks.last().map_or(0, |b| b.end));
  let mut pos = 0;
  for (n, block) in blocks.iter().enumerate() {
    let gap_start = out.len();
    let mut after_last_break = gap_start;
    for c in page[pos..block.start].chars() {
      if matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}') {
        out.push(c);
        after_last_break = out.len();
      } else {
        out.extend(std::iter::repeat_n(' ', c.len_utf8()));
      }
    }
    // The gap holds at least the start tag's `>` after its last line break, so there is a space
    // to replace.
    if n > 0 && after_last_break < out.len() {
      out.replace_range(after_last_break..after_last_break + 1, ";");
    }
    out.push_str(&page[block.clone()]);
    pos = block.end;
  }
  out
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::page::extract::find_cuts;

  fn source_of(page: &str) -> String {
    let blocks: Vec<_> = find_cuts(page)
      .into_iter()
      .filter_map(|c| c.script)
      .collect();
    combined_source(page, &blocks)
  }

  /// (line, column) of a byte offset, both 1-based, columns in bytes.
  fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = offset - before.rfind('\n').map_or(0, |p| p + 1) + 1;
    (line, column)
  }

  #[test]
  fn every_block_keeps_its_line_and_column() {
    let page = "<!doctype html>\n<p>café</p> <script scope=backend>let a = 1\n  boom()</script>\r\n<p>x</p>\n\t<script scope=\"backend\">  other()\n</script>";
    let source = source_of(page);
    for needle in ["let a", "boom()", "other()"] {
      assert_eq!(
        position(&source, source.find(needle).unwrap()),
        position(page, page.find(needle).unwrap()),
        "{needle}"
      );
    }
  }

  #[test]
  fn blocks_stay_separate_statements() {
    let page = "<script scope=backend>a = 1 // one</script>\n<script scope=backend>(f)()</script>";
    let source = source_of(page);
    assert_eq!(
      source
        .lines()
        .nth(1)
        .unwrap()
        .trim_start_matches(';')
        .trim(),
      "(f)()"
    );
    assert!(source.lines().nth(1).unwrap().starts_with(';'));
    let same_line = "<script scope=backend>a = 1</script><script scope=backend>(f)()</script>";
    assert!(source_of(same_line).contains("a = 1;"));
  }

  #[test]
  fn no_markup_survives_between_blocks() {
    let page = "<h1>Secret heading</h1><script scope=backend>x()</script><p>text</p><script scope=backend>y()</script><footer>";
    let source = source_of(page);
    assert!(source.trim_start().starts_with("x();"), "{source:?}");
    assert!(source.ends_with(" y()"), "{source:?}");
    assert!(!source.contains(|c: char| c.is_alphabetic() && !"xy".contains(c)));
  }

  #[test]
  fn a_page_without_blocks_has_an_empty_script() {
    assert_eq!(source_of("<p>hello</p><script>client()</script>"), "");
  }
}

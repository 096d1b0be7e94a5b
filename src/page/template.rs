//! The page as a Jinja template, rendered by minijinja: compiled once per page, rendered once per
//! request with `var` bound to the script's variables.
//!
//! Auto-escaping is always on, whatever the file is called, so nothing a script sets can add
//! markup; only the template's own `|safe` can. Values print as JavaScript prints them
//! (`super::print`). A missing variable, or a path through one
//! (`var.user.email` without a `user`), prints nothing. Rendering is bounded twice: by fuel (the
//! work a render may do, so a loop cannot hang a request) and by the caller's byte limit on the
//! output.

use std::io::{self, Write};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{context, AutoEscape, Environment, ErrorKind, UndefinedBehavior};

use crate::error::Failure;

/// The work one render may do: about one unit per template instruction and per 64 bytes of data
/// (minijinja's accounting). A page looping over a thousand rows uses a few tens of thousands;
/// this much takes well under a second.
pub const FUEL: u64 = 2_000_000;

const NAME: &str = "page";

/// The most operators, calls, attribute and item lookups one `{{ }}` or `{% %}` may hold. Each
/// can nest the next one level deeper, and minijinja compiles (and drops) expressions by
/// recursion, so a long chain would overflow the stack: this bound, with minijinja's own bound on
/// nested brackets and blocks (150), keeps every template's depth within what a thread's stack
/// holds. Real templates use a few.
pub const MAX_OPERATORS: usize = 150;

/// How deep template macros and recursive loops may call themselves while rendering.
const MAX_RECURSION: usize = 100;

pub struct PageTemplate {
  env: Environment<'static>,
  lines: LineMap,
}

/// Turns a line of the template (the page without its backend blocks) into the page's own line.
#[derive(Debug, Default, Clone)]
pub struct LineMap {
  /// For each cut: where it was in the template, and how many line breaks it took away.
  cuts: Vec<(usize, usize)>,
}

impl LineMap {
  pub fn new(cuts: Vec<(usize, usize)>) -> LineMap {
    LineMap { cuts }
  }

  pub fn page_line(&self, template: &str, template_line: usize) -> usize {
    let start = if template_line <= 1 {
      0
    } else {
      template
        .match_indices('\n')
        .nth(template_line - 2)
        .map_or(template.len(), |(i, _)| i + 1)
    };
    let removed: usize = self
      .cuts
      .iter()
      .filter(|(at, _)| *at <= start)
      .map(|(_, lines)| lines)
      .sum();
    template_line + removed
  }
}

/// A template that does not compile or fails while rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
  /// 1-based line in the page, where known.
  pub line: Option<u32>,
  pub message: String,
}

impl TemplateError {
  pub fn into_failure(self) -> Failure {
    Failure::Template {
      message: self.message,
      line: self.line,
    }
  }
}

#[derive(Debug)]
pub enum RenderError {
  Template(TemplateError),
  /// The output passed the byte limit.
  TooLarge,
}

impl PageTemplate {
  pub fn compile(text: String, lines: LineMap) -> Result<PageTemplate, TemplateError> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    let syntax = SyntaxConfig::builder()
      .keep_trailing_newline(true)
      .build()
      .expect("the default delimiters are valid");
    env.set_syntax(syntax);
    env.set_recursion_limit(MAX_RECURSION);
    super::print::install(&mut env);
    if let Some((at, found)) = too_complex(&text) {
      let line = lines.page_line(&text, text[..at].matches('\n').count() + 1) as u32;
      return Err(TemplateError {
        line: Some(line),
        message: format!(
          "page template error on line {line}: an expression holds {found} operators, calls, \
           attribute or item lookups; at most {MAX_OPERATORS} are allowed: split it with {{% set %}}"
        ),
      });
    }
    if let Err(e) = env.add_template_owned(NAME, text.clone()) {
      return Err(describe(&e, &text, &lines));
    }
    Ok(PageTemplate { env, lines })
  }

  /// Renders with `var` bound to `variables`; fails once the output passes `max_bytes`.
  pub fn render(
    &self,
    variables: &serde_json::Value,
    max_bytes: usize,
  ) -> Result<String, RenderError> {
    let template = self
      .env
      .get_template(NAME)
      .expect("the page template was added at compile time");
    let mut out = Bounded {
      buf: Vec::new(),
      max_bytes,
      overflowed: false,
    };
    // No value's text may be longer than the output may be (see `print::text`): a value that
    // shares itself has text far longer than the work it took to make.
    let limit = TextLimit::set(max_bytes);
    let rendered = template.render_captured_to(context! { var => Serde(variables) }, &mut out);
    let (cut, walked_out) = (limit.overflowed(), minijinja::take_walk_exhausted());
    match rendered {
      _ if cut => Err(RenderError::TooLarge),
      _ if walked_out => Err(RenderError::Template(TemplateError {
        line: None,
        message: "page template error: a value is too large to compare, sort or use as a key \
                  (it holds itself over and over)"
          .into(),
      })),
      Ok(_) => Ok(String::from_utf8(out.buf).expect("minijinja writes UTF-8")),
      Err(_) if out.overflowed => Err(RenderError::TooLarge),
      Err(e) => Err(RenderError::Template(describe(
        &e,
        template.source(),
        &self.lines,
      ))),
    }
  }
}

/// The text limit of one render on this thread, lifted when it is dropped (a panic included).
struct TextLimit;

impl TextLimit {
  fn set(max_bytes: usize) -> TextLimit {
    minijinja::set_text_limit(Some(max_bytes));
    TextLimit
  }

  /// Whether a value's text was cut at the limit.
  fn overflowed(&self) -> bool {
    minijinja::take_text_overflow()
  }
}

impl Drop for TextLimit {
  fn drop(&mut self) {
    minijinja::set_text_limit(None);
  }
}

/// Where the first `{{ }}` or `{% %}` with more than [`MAX_OPERATORS`] starts, and how many it
/// has; read in one pass by minijinja's lexical rules (`super::jinja`).
fn too_complex(text: &str) -> Option<(usize, usize)> {
  super::jinja::constructs(text.as_bytes())
    .find(|(_, c)| c.operators > MAX_OPERATORS)
    .map(|(start, c)| (start, c.operators))
}

/// The message a site owner sees: what went wrong, on which line of the page. minijinja's own
/// details name tokens by kind ("string", "identifier"), never by their text.
fn describe(e: &minijinja::Error, template: &str, lines: &LineMap) -> TemplateError {
  // minijinja counts lines in 16 bits: past 65,535 lines its line numbers wrap.
  let line = e.line().map(|l| lines.page_line(template, l) as u32);
  let at = line.map_or(String::new(), |l| format!(" on line {l}"));
  let message = if e.kind() == ErrorKind::OutOfFuel {
    format!("page template ran out of its rendering budget{at}: a loop in the template does too much work")
  } else {
    let detail = e.detail().map_or(String::new(), |d| format!(": {d}"));
    format!("page template error{at}: {}{detail}", e.kind())
  };
  TemplateError { line, message }
}

/// A writer that refuses to grow past its limit.
struct Bounded {
  buf: Vec<u8>,
  max_bytes: usize,
  overflowed: bool,
}

impl Write for Bounded {
  fn write(&mut self, data: &[u8]) -> io::Result<usize> {
    if self.buf.len() + data.len() > self.max_bytes {
      self.overflowed = true;
      return Err(io::Error::other("output limit"));
    }
    self.buf.extend_from_slice(data);
    Ok(data.len())
  }

  fn flush(&mut self) -> io::Result<()> {
    Ok(())
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  fn render(text: &str, vars: serde_json::Value) -> Result<String, RenderError> {
    let t =
      PageTemplate::compile(text.into(), LineMap::default()).map_err(RenderError::Template)?;
    t.render(&vars, 1 << 20)
  }

  fn ok(text: &str, vars: serde_json::Value) -> String {
    render(text, vars).unwrap()
  }

  fn template_error(result: Result<String, RenderError>) -> TemplateError {
    match result {
      Err(RenderError::Template(e)) => e,
      other => panic!("expected a template error, got {other:?}"),
    }
  }

  #[test]
  fn prints_variables_and_dotted_paths_with_or_without_spaces() {
    let vars = json!({ "name": "Ada", "user": { "email": "ada@example.com" } });
    assert_eq!(
      ok("{{ var.name }}|{{var.user.email}}|{{var['name']}}", vars),
      "Ada|ada@example.com|Ada"
    );
  }

  #[test]
  fn escapes_everything_a_script_sets() {
    let vars = json!({ "x": "<script>alert(\"1\")</script> & 'q'" });
    let out = ok("<p title=\"{{ var.x }}\">{{ var.x }}</p>", vars);
    assert!(!out.contains("<script>"), "{out}");
    assert!(!out.contains("\"1\""), "{out}");
    assert!(out.contains("&lt;script&gt;"), "{out}");
    assert!(out.contains("&amp;"), "{out}");
    assert!(out.contains("&#39;q&#39;"), "{out}");
  }

  #[test]
  fn escapes_inside_loops_and_filters_too_and_only_safe_opts_out() {
    let vars = json!({ "items": ["<b>", "<i>"], "html": "<em>x</em>" });
    assert_eq!(
      ok(
        "{% for i in var.items %}{{ i|upper }}{% endfor %}",
        vars.clone()
      ),
      "&lt;B&gt;&lt;I&gt;"
    );
    assert_eq!(ok("{{ var.html|safe }}", vars), "<em>x</em>");
  }

  #[test]
  fn missing_variables_print_nothing() {
    assert_eq!(
      ok(
        "[{{ var.nope }}][{{ var.nope.deeper.still }}][{{ nope }}]",
        json!({})
      ),
      "[][][]"
    );
    assert_eq!(
      ok("{% if var.nope %}yes{% else %}no{% endif %}", json!({})),
      "no"
    );
    assert_eq!(ok("{% for x in var.nope %}x{% endfor %}.", json!({})), ".");
  }

  #[test]
  fn jinja_control_flow_and_filters_work() {
    let vars = json!({ "show_banner": true, "orders": [{ "id": 1, "total": 9.5 }, { "id": 2, "total": 20 }] });
    let out = ok(
      "{% if var.show_banner %}B{% endif %}{% for o in var.orders %}#{{ o.id }}={{ o.total }}{% if not loop.last %},{% endif %}{% endfor %} {{ var.orders|length }} {{ var.missing|default('none') }} {{ var.orders|tojson }}",
      vars,
    );
    assert_eq!(
      out,
      "B#1=9.5,#2=20 2 none [{\"id\": 1, \"total\": 9.5}, {\"id\": 2, \"total\": 20}]"
    );
  }

  #[test]
  fn values_print_as_javascript_prints_them() {
    let vars = json!({
      "yes": true, "no": false, "nothing": null, "half": 1.5, "two": 2, "big": 1e21, "tiny": 1e-7,
      "text": "plain", "list": [1, 2.5, "x", null, true], "empty": [], "none": {},
    });
    let rows = [
      ("{{ var.yes }}|{{ var.no }}", "true|false"),
      (
        "[{{ var.nothing }}][{{ var.missing }}][{{ none }}]",
        "[][][]",
      ),
      (
        "{{ var.half }} {{ var.two }} {{ var.big }} {{ var.tiny }}",
        "1.5 2 1e+21 1e-7",
      ),
      (
        "{{ 4 / 2 }} {{ 3 / 2 }} {{ -0.0 }} {{ 2 ** 80 }}",
        "2 1.5 0 1.2089258196146292e+24",
      ),
      ("{{ var.text }}", "plain"),
      ("{{ var.list }}", "[1,2.5,&quot;x&quot;,null,true]"),
      ("{{ var.empty }}{{ var.none }}", "[]{}"),
      ("{{ [1, none, var.missing] }}", "[1,null,null]"),
      (
        "{{ {'a': var.missing, 'b': none} }}",
        "{&quot;b&quot;:null}",
      ),
    ];
    for (template, expected) in rows {
      assert_eq!(ok(template, vars.clone()), expected, "{template}");
    }
  }

  #[test]
  fn objects_print_as_json_in_their_own_key_order_and_escaped() {
    let vars = json!({ "company": { "name": "O'Brien & <Co>", "n": 1.5, "tags": ["a/b", "\"q\""], "z": 1, "a": { "deep": [{ "x": null }] } } });
    assert_eq!(
      ok("{{ var.company }}", vars.clone()),
      "{&quot;name&quot;:&quot;O&#39;Brien &amp; &lt;Co&gt;&quot;,&quot;n&quot;:1.5,\
       &quot;tags&quot;:[&quot;a/b&quot;,&quot;\\&quot;q\\&quot;&quot;],&quot;z&quot;:1,\
       &quot;a&quot;:{&quot;deep&quot;:[{&quot;x&quot;:null}]}}"
    );
    // Unescaped, it is exactly the JSON text `JSON.stringify` writes.
    assert_eq!(
      ok("{{ var.company|safe }}", vars),
      r#"{"name":"O'Brien & <Co>","n":1.5,"tags":["a/b","\"q\""],"z":1,"a":{"deep":[{"x":null}]}}"#
    );
  }

  #[test]
  fn slashes_are_not_escaped_and_the_five_html_characters_are() {
    let vars = json!({ "url": "https://example.com/a?b=1&c=2", "x": "<'\">" });
    assert_eq!(
      ok("<a href=\"{{ var.url }}\">{{ var.x }}</a>", vars),
      "<a href=\"https://example.com/a?b=1&amp;c=2\">&lt;&#39;&quot;&gt;</a>"
    );
  }

  #[test]
  fn filters_that_make_text_follow_the_same_rules() {
    let vars = json!({ "flags": [true, null, 1, 2.5, "<b>"], "people": [{ "name": "Ada", "age": 36 }, { "name": "Alan", "age": 41 }], "half": 1.5 });
    let rows = [
      ("{{ var.flags|join(', ') }}", "true, , 1, 2.5, &lt;b&gt;"),
      ("{{ [true, none, 1]|join(', ') }}", "true, , 1"),
      ("{{ var.people|join(' / ') }}", "{&quot;name&quot;:&quot;Ada&quot;,&quot;age&quot;:36} / {&quot;name&quot;:&quot;Alan&quot;,&quot;age&quot;:41}"),
      ("{{ var.people|join(', ', attribute='name') }}", "Ada, Alan"),
      ("{{ var.people|join(d='-', attribute='age') }}", "36-41"),
      ("{{ var.flags|join('<br>'|safe) }}", "true<br><br>1<br>2.5<br>&lt;b&gt;"),
      ("{{ var.missing|join(',') }}", ""),
      ("{{ 'abc'|join('.') }}", "a.b.c"),
      ("{{ true|string }}|{{ none|string }}|{{ var.half|string }}|{{ (4 / 2)|string }}", "true||1.5|2"),
      ("{{ var.people|string|length }}", "50"),
      ("{{ var.flags|e }}", "[true,null,1,2.5,&quot;&lt;b&gt;&quot;]"),
      ("{{ '/a&b'|escape }}", "/a&amp;b"),
      ("{{ false|safe }}", "false"),
      ("{% autoescape false %}{{ var.flags }}{% endautoescape %}", "[true,null,1,2.5,\"<b>\"]"),
    ];
    for (template, expected) in rows {
      assert_eq!(ok(template, vars.clone()), expected, "{template}");
    }
  }

  #[test]
  fn joining_is_bounded_by_the_rendering_budget() {
    let vars = json!({ "items": vec![1; 10_000] });
    let e = template_error(render("{{ var.items|join('x' * 100000)|length }}", vars));
    assert!(e.message.contains("rendering budget"), "{}", e.message);
  }

  #[test]
  fn keeps_the_page_byte_for_byte_where_there_is_nothing_to_render() {
    let page = "<!doctype html>\n<p>a  b</p>\n\n";
    assert_eq!(ok(page, json!({})), page);
  }

  #[test]
  fn a_syntax_error_names_the_page_line() {
    // The template lost a three-line block at its line 2: its line 3 is the page's line 5.
    let text = "<p>\n\n{% if %}\n";
    let e = PageTemplate::compile(text.into(), LineMap::new(vec![(4, 2)]))
      .err()
      .unwrap();
    assert_eq!(e.line, Some(5));
    assert!(
      e.message
        .starts_with("page template error on line 5: syntax error"),
      "{}",
      e.message
    );
  }

  #[test]
  fn lines_and_columns_past_sixty_five_thousand_do_not_fail_the_page() {
    let text = format!(
      "{}\n{}\n{{{{ var.x }}}}",
      "\n".repeat(70_000),
      "x".repeat(70_000)
    );
    let t = PageTemplate::compile(text, LineMap::default()).unwrap();
    assert!(t
      .render(&json!({"x": 1}), 1 << 20)
      .unwrap()
      .ends_with("x\n1"));
  }

  #[test]
  fn a_render_error_names_the_line() {
    let e = template_error(render("a\nb\n{{ var.x + 1 }}", json!({ "x": "s" })));
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("line 3"), "{}", e.message);
  }

  #[test]
  fn an_endless_template_loop_runs_out_of_fuel() {
    let e = template_error(render(
      "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
      json!({}),
    ));
    assert!(e.message.contains("rendering budget"), "{}", e.message);
    assert_eq!(e.line, Some(1));
  }

  #[test]
  fn expressions_long_enough_to_overflow_the_compilers_stack_are_refused_at_any_length() {
    for chain in [
      "-", "not ", " + 1", " ~ \"a\"", ".a", "|upper", "[0]", "(", " and x",
    ] {
      for n in [MAX_OPERATORS + 1, 20_000, 200_000] {
        let expression = if chain == "-" || chain == "not " || chain == "(" {
          format!("{}1", chain.repeat(n))
        } else {
          format!("x{}", chain.repeat(n))
        };
        let text = format!("<p>\n{{{{ {expression} }}}}\n");
        let e = PageTemplate::compile(text, LineMap::default())
          .err()
          .unwrap();
        assert_eq!(e.line, Some(2), "{chain} × {n}");
        assert!(e.message.contains("at most 150"), "{chain}: {}", e.message);
      }
    }
    let statement = format!("{{% if {} %}}x{{% endif %}}", vec!["x"; 200].join(" and "));
    assert!(PageTemplate::compile(statement, LineMap::default()).is_err());
  }

  #[test]
  fn ordinary_expressions_strings_comments_and_raw_blocks_are_not_counted() {
    let ok = [
      "{{ var.user.name|upper ~ ' (' ~ var.user.role ~ ')' }}",
      &format!("{{{{ '{}' }}}}", "+".repeat(10_000)),
      &format!("{{# {} #}}", "+".repeat(10_000)),
      &format!("{{% raw %}}{{{{ {} }}}}{{% endraw %}}", "+".repeat(10_000)),
      &format!("{{{{ [{}] }}}}", vec!["1.5"; 1000].join(", ")),
    ];
    for text in ok {
      assert!(
        PageTemplate::compile(text.to_string(), LineMap::default()).is_ok(),
        "{}",
        &text[..40.min(text.len())]
      );
    }
  }

  #[test]
  fn deep_nesting_of_blocks_and_brackets_is_an_error_on_an_executor_thread() {
    let cases = [
      format!(
        "{}x{}",
        "{% if x %}".repeat(10_000),
        "{% endif %}".repeat(10_000)
      ),
      format!("{{{{ {}1{} }}}}", "[".repeat(10_000), "]".repeat(10_000)),
    ];
    for text in cases {
      // On a thread with the stack of the executor's, where pages are compiled.
      let compiled = std::thread::Builder::new()
        .stack_size(crate::sandbox::THREAD_STACK)
        .spawn(move || PageTemplate::compile(text, LineMap::default()).is_err())
        .unwrap()
        .join()
        .unwrap();
      assert!(compiled);
    }
  }

  #[test]
  fn output_past_the_limit_fails() {
    let t = PageTemplate::compile("{{ var.x }}{{ var.x }}".into(), LineMap::default()).unwrap();
    let vars = json!({ "x": "y".repeat(600) });
    assert!(matches!(t.render(&vars, 1000), Err(RenderError::TooLarge)));
    assert_eq!(t.render(&vars, 1200).unwrap().len(), 1200);
  }
}

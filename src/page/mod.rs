//! `renderPage`: a page is HTML with `<script scope="backend">` blocks and Jinja placeholders.
//! Its blocks run as one script (`extract`, `script`), then the rest of the page is rendered as a
//! template with the script's variables (`template`). The preparation is cached per page source;
//! the execution and the rendering happen on the executor's threads, never on Node's.
//!
//! No text of a backend block ever reaches the output: blocks are cut out before the template is
//! compiled, and errors carry positions and messages, never source.

pub(crate) mod extract;
mod jinja;
mod print;
mod result;
mod script;
mod template;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use self::result::renders;
pub use self::result::PageResult;
use self::template::{LineMap, PageTemplate, RenderError, TemplateError};
use crate::cache::{self, BoundedCache};
use napi_derive::napi;

use crate::error::{Failure, ScriptError};
use crate::options::Limits;
use crate::outcome::ScriptOutput;
use crate::sandbox::{executor, Job, ScriptInput, Source};

/// What a page answers, or why it failed.
pub type PageOutcome = Result<PageResult, ScriptError>;

/// Whether a page's backend blocks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
  Run,
  /// The template alone, with the context's variables, as if the page had no backend block:
  /// what a page shows when its script failed and the site chose to show it anyway.
  Skip,
}

/// Runs a page: prepares it on an executor thread as the execution starts (from the cache when
/// the same page was prepared before), runs its script, and renders its template there too;
/// `settle` gets the response or the failure. Node's thread does none of this work.
pub fn submit(
  html: String,
  input: ScriptInput,
  limits: Limits,
  scripts: Scripts,
  settle: Box<dyn FnOnce(PageOutcome) + Send>,
) {
  let prepared: Arc<OnceLock<Arc<Page>>> = Arc::default();
  let page = prepared.clone();
  let preparation = Box::new(move || {
    let page = prepare(&html).map_err(|e| e.into_failure())?;
    let script = match scripts {
      Scripts::Run => page.script.clone(),
      Scripts::Skip => Arc::from(""),
    };
    let _ = prepared.set(page);
    Ok(script)
  });
  let max_bytes = limits.output_bytes;
  executor().submit(Job {
    source: Source::Prepare(preparation),
    input,
    limits,
    settle: Box::new(move |outcome| {
      // A page is always prepared before its script runs, so a success has one.
      let result = outcome.and_then(|out| match page.get() {
        Some(page) => finish(page, out, max_bytes),
        None => Err(ScriptError::with_stats(
          Failure::Internal("a page ran unprepared".into()),
          out.logs,
          out.stats,
        )),
      });
      settle(result)
    }),
  });
}

/// What `checkPage` finds wrong with a page: its template's error, and its script's syntax error
/// or import of a module that `options.modules` does not have, in the page's own lines and
/// columns.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnostic {
  #[napi(ts_type = "'ERR_PAGE_TEMPLATE' | 'ERR_SCRIPT_SYNTAX' | 'ERR_SCRIPT_MODULE'")]
  pub code: String,
  pub message: String,
  /// 1-based.
  pub line: Option<u32>,
  /// 1-based, in bytes of UTF-8 as QuickJS counts; unknown for template errors.
  pub column: Option<u32>,
}

impl Diagnostic {
  fn of(failure: &Failure) -> Diagnostic {
    let (line, column) = failure.position();
    Diagnostic {
      code: failure.code().as_str().into(),
      message: failure.to_string(),
      line,
      column,
    }
  }
}

/// Checks a page without running it: finds its backend blocks, compiles its template, and parses
/// its script (`input.compile_only`) on an executor thread. `settle` gets every error found, or
/// the failure that kept the check from finishing (busy, out of memory).
pub fn check(
  html: String,
  input: ScriptInput,
  limits: Limits,
  settle: Box<dyn FnOnce(Result<Vec<Diagnostic>, ScriptError>) + Send>,
) {
  let template: Arc<OnceLock<TemplateError>> = Arc::default();
  let found = template.clone();
  let preparation = Box::new(move || match prepare(&html) {
    Ok(page) => Ok(page.script.clone()),
    // The script is still worth parsing: both errors are reported at once.
    Err(e) => {
      let _ = found.set(e);
      Ok(Arc::from(Page::script_of(&html)))
    }
  });
  executor().submit(Job {
    source: Source::Prepare(preparation),
    input: ScriptInput {
      compile_only: true,
      ..input
    },
    limits,
    settle: Box::new(move |outcome| {
      let mut found: Vec<Diagnostic> = template
        .get()
        .map(|e| Diagnostic::of(&e.clone().into_failure()))
        .into_iter()
        .collect();
      match outcome {
        Ok(_) => {}
        Err(e) if matches!(e.failure, Failure::Syntax(_) | Failure::Module { .. }) => {
          found.push(Diagnostic::of(&e.failure))
        }
        Err(e) => return settle(Err(e)),
      }
      found.sort_by_key(|d| (d.line, d.column));
      settle(Ok(found))
    }),
  });
}

/// A page prepared for serving: its script and its compiled template.
pub(crate) struct Page {
  /// Every backend block, at its own line and column; empty when there is none.
  script: Arc<str>,
  pub(crate) template: PageTemplate,
}

impl Page {
  /// The page's backend blocks as one script.
  fn script_of(html: &str) -> String {
    let cuts = extract::find_cuts(html);
    let blocks: Vec<_> = cuts.iter().filter_map(|c| c.script.clone()).collect();
    script::combined_source(html, &blocks)
  }

  pub(crate) fn parse(html: &str) -> Result<Page, TemplateError> {
    let cuts = extract::find_cuts(html);
    let blocks: Vec<_> = cuts.iter().filter_map(|c| c.script.clone()).collect();
    let mut removed = 0;
    let lines = cuts
      .iter()
      .map(|c| {
        let at = c.range.start - removed;
        removed += c.range.len();
        (at, html[c.range.clone()].matches('\n').count())
      })
      .collect();
    let lines = LineMap::new(lines);
    let template = extract::without_cuts(html, &cuts);
    // Taking a block out must not join the text around it into another block (`<` before one,
    // `script scope=backend>…` after it): the visitor's browser would get that one as a script.
    if let Some(joined) = extract::find_cuts(&template).first() {
      let at = template[..joined.range.start].matches('\n').count() + 1;
      let line = lines.page_line(&template, at) as u32;
      return Err(TemplateError {
        line: Some(line),
        message: format!(
          "page template error on line {line}: taking the backend blocks out of the page joins \
           the text around one of them into another <script scope=\"backend\"> element (or a \
           comment holding one), which the visitor's browser would get; move the block"
        ),
      });
    }
    Ok(Page {
      script: script::combined_source(html, &blocks).into(),
      template: PageTemplate::compile(template, lines)?,
    })
  }
}

/// Prepared pages, and pages that fail to prepare, are kept per page source, so that serving the
/// same page again costs only the execution (or nothing, for a page that cannot be served): at
/// most this many, …
const MAX_PAGES: usize = 256;
/// … holding at most this many bytes of page source together.
const MAX_CACHED_BYTES: usize = 4 * crate::MAX_SOURCE_BYTES;

type Prepared = Result<Arc<Page>, TemplateError>;

fn pages() -> MutexGuard<'static, BoundedCache<Arc<str>, Prepared>> {
  static PAGES: OnceLock<Mutex<BoundedCache<Arc<str>, Prepared>>> = OnceLock::new();
  cache::lock(PAGES.get_or_init(|| Mutex::new(BoundedCache::new(MAX_PAGES, MAX_CACHED_BYTES))))
}

fn prepare(html: &str) -> Prepared {
  if let Some(prepared) = pages().get(html) {
    return prepared;
  }
  let prepared = Page::parse(html).map(Arc::new);
  pages().insert(html.into(), prepared.clone(), html.len());
  prepared
}

/// Turns a successful script's output into the page's response, rendering the template when
/// the script let the page render.
fn finish(page: &Page, mut out: ScriptOutput, max_bytes: usize) -> PageOutcome {
  if !renders(&out) {
    return Ok(PageResult::new(out, None));
  }
  // Rendering is part of the execution: its record counts it.
  let (wall, cpu) = (std::time::Instant::now(), crate::sandbox::thread_cpu_time());
  let rendered = render(page, &out, max_bytes);
  out.stats.duration_ms += wall.elapsed().as_secs_f64() * 1000.0;
  out.stats.cpu_ms +=
    (crate::sandbox::thread_cpu_time().saturating_sub(cpu)).as_secs_f64() * 1000.0;
  match rendered {
    Ok(body) => Ok(PageResult::new(out, Some(body))),
    Err(failure) => Err(ScriptError::with_stats(failure, out.logs, out.stats)),
  }
}

/// Renders the page's template with the script's variables.
fn render(page: &Page, out: &ScriptOutput, max_bytes: usize) -> Result<String, Failure> {
  // The script's variables crossed `copy_out`, which bounded their depth: they always parse.
  let variables = crate::json::parse_value(&out.variables_json)
    .map_err(|e| Failure::Internal(format!("the page's variables could not be read: {e}")))?;
  let rendered = catch_unwind(AssertUnwindSafe(|| {
    page.template.render(&variables, max_bytes)
  }));
  Err(match rendered {
    Ok(Ok(body)) => return Ok(body),
    Ok(Err(RenderError::TooLarge)) => Failure::OutputLimit {
      limit_bytes: max_bytes as u64,
    },
    Ok(Err(RenderError::Template(error))) => error.into_failure(),
    Err(_) => Failure::Internal("the page template panicked while rendering".into()),
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_page_whose_template_would_still_hold_a_backend_block_is_refused() {
    for page in [
      "<<script scope=backend></script>script scope=backend>secret()</script>",
      "<p>\n<<script scope=\"backend\">a()</script>script scope=backend>",
    ] {
      let Err(e) = Page::parse(page) else {
        panic!("{page:?} was prepared")
      };
      assert!(
        e.message.contains("joins the text around one of them"),
        "{}",
        e.message
      );
    }
    assert!(Page::parse("<p><script scope=backend>a()</script>script scope=backend></p>").is_ok());
  }

  #[test]
  fn a_page_is_prepared_once_per_source() {
    let html = "<p>{{ var.cached_once }}</p><script scope=backend>setVariable('a', 1)</script>";
    let first = prepare(html).unwrap();
    let again = prepare(html).unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    // A page that cannot be prepared is not prepared again either: the same error comes back.
    let broken = format!("{{% if %}}{}", "x".repeat(1000));
    assert_eq!(prepare(&broken).err(), prepare(&broken).err());
    let other = prepare(&format!("{html} ")).unwrap();
    assert!(!Arc::ptr_eq(&first, &other));
  }

  #[test]
  fn the_template_never_holds_script_text() {
    let html = "<p>{{ var.x }}</p>\n<script scope=\"backend\">const secret = 'hunter2';\nsetVariable('x', 1)</script>\n<script>client()</script>";
    let page = Page::parse(html).unwrap();
    let body = page
      .template
      .render(&serde_json::json!({"x": 1}), 1 << 20)
      .ok()
      .unwrap();
    assert!(!body.contains("hunter2"));
    assert!(body.contains("<script>client()</script>"));
    assert!(page.script.contains("const secret = 'hunter2';"));
  }

  #[test]
  fn template_errors_name_the_page_line_past_removed_blocks() {
    let html = "<p>\n<script scope=backend>\na()\nb()\n</script>\n{% if %}\n";
    match Page::parse(html) {
      Err(e) => assert_eq!(e.line, Some(6), "{}", e.message),
      Ok(_) => panic!("the template does not compile"),
    }
  }
}

//! `renderPage`: a page is HTML with `<script scope="backend">` blocks and Jinja placeholders.
//! Its blocks run as one script (`extract`, `script`), then the rest of the page is rendered as a
//! template with the script's variables (`template`). The preparation is cached per page source
//! (`cache`); the execution and the rendering happen on the executor's threads, never on Node's.
//!
//! No text of a backend block ever reaches the output: blocks are cut out before the template is
//! compiled, and errors carry positions and messages, never source.

// Unit tests build without the napi registration, which is what uses the export and its parts.
#![cfg_attr(test, allow(dead_code))]

mod cache;
mod error;
mod extract;
mod result;
mod script;
mod template;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use napi::bindgen_prelude::{Object, Unknown};
use napi::Env;
use napi_derive::napi;

use self::cache::{Cache, MAX_BYTES, MAX_PAGES};
use self::error::PageError;
use self::result::{renders, PageResult};
use self::template::{LineMap, PageTemplate, RenderError, TemplateError};
use crate::error::{Failure, ScriptError};
use crate::js::{self, JsonText};
use crate::sandbox::{executor, Job, Outcome};

/// Runs a page's `<script scope="backend">` blocks (in document order, as one execution in a fresh
/// sandbox) and renders the rest of the page as a Jinja template with `var` bound to the script's
/// variables, HTML-escaped. The blocks never appear in the output.
///
/// Resolves with the response to send: a redirect, the body the script sent, or the rendered page.
/// Rejects as `runBackendScript` does (with `line`/`column` in the page's own numbering), or with
/// `code` `ERR_PAGE_TEMPLATE` and the page `line` when the template does not compile, fails while
/// rendering or runs out of its rendering budget.
#[napi(
  ts_args_type = "html: string, context?: ScriptContext | null, proxyConfig?: ProxyConfig | null, options?: RunOptions | null",
  ts_return_type = "Promise<PageResult>"
)]
pub fn render_page<'env>(
  env: &'env Env,
  html: Option<Unknown<'env>>,
  context: Option<Unknown<'env>>,
  proxy_config: Option<Unknown<'env>>,
  options: Option<Unknown<'env>>,
) -> napi::Result<Object<'env>> {
  let (deferred, promise) = env.create_deferred::<JsonText, Resolver>()?;
  let parts = js::string_arg(html, "html")
    .and_then(|html| {
      let (input, limits) = crate::script_inputs(env, context, proxy_config, options)?;
      Ok((html, input, limits))
    })
    .map_err(PageError::Arg)
    .and_then(|(html, input, limits)| {
      let page = prepare(&html).map_err(|error| PageError::template(error, Vec::new()))?;
      Ok((page, input, limits))
    });
  match parts {
    Err(e) => deferred.resolve(Box::new(move |env| Err(e.into_napi(&env)))),
    Ok((page, input, limits)) => {
      let max_bytes = limits.output_bytes;
      executor().submit(Job {
        source: page.script.clone(),
        input,
        limits,
        settle: Box::new(move |outcome| {
          // On an executor thread: the template renders here, off Node's thread.
          let result = finish(&page, outcome, max_bytes).map(|r| JsonText::of(&r));
          deferred.resolve(Box::new(move |env| result.map_err(|e| e.into_napi(&env))))
        }),
      })
    }
  }
  Ok(promise)
}

/// Settles a promise on Node's thread.
type Resolver = Box<dyn FnOnce(Env) -> napi::Result<JsonText> + Send>;

/// A page prepared for serving: its script and its compiled template.
struct Page {
  /// Every backend block, at its own line and column; empty when there is none.
  script: String,
  template: PageTemplate,
}

impl Page {
  fn parse(html: &str) -> Result<Page, TemplateError> {
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
    Ok(Page {
      script: script::combined_source(html, &blocks),
      template: PageTemplate::compile(extract::without_cuts(html, &cuts), LineMap::new(lines))?,
    })
  }
}

static PAGES: OnceLock<Mutex<Cache<Page>>> = OnceLock::new();

fn pages() -> MutexGuard<'static, Cache<Page>> {
  let pages = PAGES.get_or_init(|| Mutex::new(Cache::new(MAX_PAGES, MAX_BYTES)));
  // The cache holds no invariant a panic elsewhere could break.
  pages.lock().unwrap_or_else(|e| e.into_inner())
}

fn prepare(html: &str) -> Result<Arc<Page>, TemplateError> {
  if let Some(page) = pages().get(html) {
    return Ok(page);
  }
  let page = Arc::new(Page::parse(html)?);
  pages().insert(html, page.clone());
  Ok(page)
}

/// Turns the script's outcome into the page's response, rendering the template when the script
/// let the page render.
fn finish(page: &Page, outcome: Outcome, max_bytes: usize) -> Result<PageResult, PageError> {
  let out = outcome.map_err(PageError::Script)?;
  if !renders(&out) {
    return Ok(PageResult::new(out, None));
  }
  let rendered = catch_unwind(AssertUnwindSafe(|| {
    let variables: serde_json::Value =
      serde_json::from_str(&out.variables_json).unwrap_or_default();
    page.template.render(&variables, max_bytes)
  }));
  match rendered {
    Ok(Ok(body)) => Ok(PageResult::new(out, Some(body))),
    Ok(Err(RenderError::TooLarge)) => Err(PageError::Script(ScriptError::new(
      Failure::OutputLimit {
        limit_bytes: max_bytes as u64,
      },
      out.logs,
    ))),
    Ok(Err(RenderError::Template(error))) => Err(PageError::template(error, out.logs)),
    Err(_) => Err(PageError::Script(ScriptError::new(
      Failure::Internal("the page template panicked while rendering".into()),
      out.logs,
    ))),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_page_is_prepared_once_per_source() {
    let html = "<p>{{ var.cached_once }}</p><script scope=backend>setVariable('a', 1)</script>";
    let first = prepare(html).unwrap();
    let again = prepare(html).unwrap();
    assert!(Arc::ptr_eq(&first, &again));
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

//! How `renderPage` fails: with the argument and script errors every execution has (their codes
//! and their one conversion, in `crate::error`), or with the page's template.

use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{Env, JsValue, Status};

use super::template::TemplateError;
use crate::api::LogEntry;
use crate::error::{ArgError, ScriptError};

/// The code of a page whose template does not compile, fails while rendering, or runs out of fuel.
pub const TEMPLATE_CODE: &str = "ERR_PAGE_TEMPLATE";

#[derive(Debug)]
pub enum PageError {
  Arg(ArgError),
  Script(ScriptError),
  /// `logs`: what the script printed before the template failed.
  Template {
    error: TemplateError,
    logs: Vec<LogEntry>,
  },
}

impl PageError {
  /// The JavaScript error, shaped as script errors are: `code`, `line`, `column`, `logs`.
  pub fn into_napi(self, env: &Env) -> napi::Error {
    match self {
      PageError::Arg(e) => e.into_napi(env),
      PageError::Script(e) => e.into_napi(env),
      PageError::Template { error, logs } => {
        let build = || -> napi::Result<napi::Error> {
          let mut err: Object =
            env.create_error(napi::Error::new(Status::GenericFailure, error.message))?;
          err.set_named_property("code", TEMPLATE_CODE)?;
          err.set_named_property("line", error.line)?;
          err.set_named_property("column", None::<u32>)?;
          err.set_named_property("logs", logs)?;
          Ok(napi::Error::from(err.to_unknown()))
        };
        build().unwrap_or_else(|e| e)
      }
    }
  }
}

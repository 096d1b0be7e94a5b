//! How `renderPage` fails: with the argument and script errors every execution has, or with the
//! page's template (`ERR_PAGE_TEMPLATE`, a [`Failure::Template`]); all convert in `crate::error`.

use napi::Env;

use super::template::TemplateError;
use crate::error::{ArgError, Failure, ScriptError};
use crate::outcome::LogEntry;

#[derive(Debug)]
pub enum PageError {
  Arg(ArgError),
  Script(ScriptError),
}

impl PageError {
  /// A template failure, with what the script printed before it.
  pub fn template(error: TemplateError, logs: Vec<LogEntry>) -> PageError {
    let failure = Failure::Template {
      message: error.message,
      line: error.line,
    };
    PageError::Script(ScriptError::new(failure, logs))
  }

  pub fn into_napi(self, env: &Env) -> napi::Error {
    match self {
      PageError::Arg(e) => e.into_napi(env),
      PageError::Script(e) => e.into_napi(env),
    }
  }
}

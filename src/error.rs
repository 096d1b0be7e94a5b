//! Everything that can go wrong, as typed values. They become JavaScript errors in exactly one
//! place each: [`ScriptError::into_napi`] for executions, [`ArgError::into_napi`] for arguments.

use std::fmt;

use napi::bindgen_prelude::{FromNapiValue, JsObjectValue, Object};
use napi::{Env, JsRangeError, JsTypeError, JsValue, Status};
use napi_derive::napi;

use crate::outcome::{LogEntry, Stats};

/// The `code` of every error an execution or a page can fail with. Callers switch on it, so each
/// is stable; `index.d.ts` has them as a union of string literals.
#[napi(string_enum = "UPPER_SNAKE")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the prefix is part of every code
pub enum ErrorCode {
  /// The script does not parse.
  ErrScriptSyntax,
  /// An uncaught exception, a stack overflow, or an unhandled promise rejection.
  ErrScriptException,
  /// An import names no shared module of the set given, or a name its module does not export.
  ErrScriptModule,
  /// The CPU-time or wall-clock budget ran out.
  ErrScriptTimeout,
  /// The memory limit was hit.
  ErrScriptMemory,
  /// The result grew past `maxOutputBytes`.
  ErrScriptOutputLimit,
  /// More executions were waiting than `maxQueue` allows.
  ErrScriptBusy,
  /// A page's template does not compile, fails while rendering, or runs out of its budget.
  ErrPageTemplate,
  /// A page's script set or deleted the session cookie (raised by the Express middleware).
  ErrPageSessionCookie,
  /// A page's response breaks a rule of Node's or Express's, so it cannot be sent as the script made
  /// it (raised by the Express middleware, which then applies nothing of it).
  ErrPageResponse,
  /// A defect in the addon itself.
  ErrScriptInternal,
}

impl ErrorCode {
  pub fn as_str(self) -> &'static str {
    match self {
      ErrorCode::ErrScriptSyntax => "ERR_SCRIPT_SYNTAX",
      ErrorCode::ErrScriptException => "ERR_SCRIPT_EXCEPTION",
      ErrorCode::ErrScriptModule => "ERR_SCRIPT_MODULE",
      ErrorCode::ErrScriptTimeout => "ERR_SCRIPT_TIMEOUT",
      ErrorCode::ErrScriptMemory => "ERR_SCRIPT_MEMORY",
      ErrorCode::ErrScriptOutputLimit => "ERR_SCRIPT_OUTPUT_LIMIT",
      ErrorCode::ErrScriptBusy => "ERR_SCRIPT_BUSY",
      ErrorCode::ErrPageTemplate => "ERR_PAGE_TEMPLATE",
      ErrorCode::ErrPageSessionCookie => "ERR_PAGE_SESSION_COOKIE",
      ErrorCode::ErrPageResponse => "ERR_PAGE_RESPONSE",
      ErrorCode::ErrScriptInternal => "ERR_SCRIPT_INTERNAL",
    }
  }
}

/// Why an execution produced no result. The `code` of each variant is stable: callers switch on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
  /// The script does not parse.
  Syntax(JsError),
  /// An uncaught exception, stack overflow and unhandled promise rejections included.
  Exception(JsError),
  /// An import that does not resolve: a name that is no module of the set, or that its module
  /// does not export. `module` is the importing module (`None`: the script), `line` the import's.
  Module {
    message: String,
    module: Option<String>,
    line: Option<u32>,
  },
  /// The CPU-time budget ran out.
  CpuTimeout { limit_ms: u64 },
  /// The wall-clock budget ran out.
  WallTimeout { limit_ms: u64 },
  /// The memory limit was hit.
  Memory { limit_bytes: u64 },
  /// The result (variables, session, body, headers, cookies, logs) grew past `maxOutputBytes`.
  OutputLimit { limit_bytes: u64 },
  /// More executions were waiting than `maxQueue` allows.
  Busy { max_queue: u32 },
  /// `maxAbandoned` threads are still finishing scripts that overran their budget.
  Abandoned { max_abandoned: u32 },
  /// A page's template does not compile, fails while rendering, or runs out of fuel.
  Template { message: String, line: Option<u32> },
  /// A defect in the addon itself; the message says where.
  Internal(String),
}

/// An error thrown inside the script, as it was seen there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsError {
  /// `SyntaxError`, `TypeError`, … or the name of the script's own error class.
  pub name: String,
  pub message: String,
  /// 1-based position in the script's own numbering, where known.
  pub line: Option<u32>,
  pub column: Option<u32>,
  /// The shared module the position is in; `None` for the script itself. (Boxed: failures travel
  /// in `Result`s, which should stay small.)
  pub module: Option<Box<str>>,
}

impl Failure {
  pub fn code(&self) -> ErrorCode {
    match self {
      Failure::Syntax(_) => ErrorCode::ErrScriptSyntax,
      Failure::Exception(_) => ErrorCode::ErrScriptException,
      Failure::Module { .. } => ErrorCode::ErrScriptModule,
      Failure::CpuTimeout { .. } | Failure::WallTimeout { .. } => ErrorCode::ErrScriptTimeout,
      Failure::Memory { .. } => ErrorCode::ErrScriptMemory,
      Failure::OutputLimit { .. } => ErrorCode::ErrScriptOutputLimit,
      Failure::Busy { .. } | Failure::Abandoned { .. } => ErrorCode::ErrScriptBusy,
      Failure::Template { .. } => ErrorCode::ErrPageTemplate,
      Failure::Internal(_) => ErrorCode::ErrScriptInternal,
    }
  }

  pub fn position(&self) -> (Option<u32>, Option<u32>) {
    match self {
      Failure::Syntax(e) | Failure::Exception(e) => (e.line, e.column),
      Failure::Template { line, .. } | Failure::Module { line, .. } => (*line, None),
      _ => (None, None),
    }
  }

  /// The shared module the position is in, when it is not the script (or page) itself.
  pub fn module(&self) -> Option<&str> {
    match self {
      Failure::Syntax(e) | Failure::Exception(e) => e.module.as_deref(),
      Failure::Module { module, .. } => module.as_deref(),
      _ => None,
    }
  }
}

impl fmt::Display for Failure {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let at = |e: &JsError| {
      let position = match (e.line, e.column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}"),
        (Some(l), None) => format!("line {l}"),
        _ => String::new(),
      };
      match (&e.module, position.is_empty()) {
        (Some(m), true) => format!(" (module {m})"),
        (Some(m), false) => format!(" (module {m}, {position})"),
        (None, true) => String::new(),
        (None, false) => format!(" ({position})"),
      }
    };
    match self {
      Failure::Syntax(e) => match &e.module {
        Some(m) => write!(
          f,
          "module {m} has a syntax error{}: {}",
          at(&JsError {
            module: None,
            ..e.clone()
          }),
          e.message
        ),
        None => write!(f, "script has a syntax error{}: {}", at(e), e.message),
      },
      Failure::Exception(e) => {
        write!(
          f,
          "script threw an uncaught {}{}: {}",
          e.name,
          at(e),
          e.message
        )
      }
      Failure::CpuTimeout { limit_ms } => {
        write!(f, "script exceeded its CPU time limit of {limit_ms} ms")
      }
      Failure::WallTimeout { limit_ms } => {
        write!(
          f,
          "script exceeded its wall-clock time limit of {limit_ms} ms"
        )
      }
      Failure::Memory { limit_bytes } => {
        write!(f, "script exceeded its memory limit of {limit_bytes} bytes")
      }
      Failure::OutputLimit { limit_bytes } => write!(
        f,
        "script output (variables, session, body, headers, cookies and logs) exceeded \
                 the limit of {limit_bytes} bytes"
      ),
      Failure::Busy { max_queue } => write!(
        f,
        "too many scripts are waiting to run ({max_queue} queued); try again later or \
                 raise maxQueue with configure()"
      ),
      Failure::Abandoned { max_abandoned } => write!(
        f,
        "{max_abandoned} scripts that overran their budget are still finishing (maxAbandoned); \
                 new scripts run again as soon as one of them ends"
      ),
      Failure::Template { message, .. } | Failure::Module { message, .. } => f.write_str(message),
      Failure::Internal(what) => write!(f, "internal error in backend-scripts: {what}"),
    }
  }
}

/// A failed execution: the failure, what the script printed before it, and the record of the
/// execution (with the failure's code as its `outcome`).
#[derive(Debug)]
pub struct ScriptError {
  pub failure: Failure,
  pub logs: Vec<LogEntry>,
  /// Boxed: failures travel in `Result`s, which should stay small.
  pub stats: Box<Stats>,
}

impl ScriptError {
  /// A failure with an empty record: for an execution that never ran.
  pub fn new(failure: Failure, logs: Vec<LogEntry>) -> Self {
    ScriptError::with_stats(failure, logs, Stats::empty())
  }

  pub fn with_stats(failure: Failure, logs: Vec<LogEntry>, mut stats: Stats) -> Self {
    stats.outcome = failure.code().as_str().into();
    ScriptError {
      failure,
      logs,
      stats: Box::new(stats),
    }
  }

  /// The one conversion to a JavaScript `Error` with `code`, `line`, `column`, `logs` and `stats`.
  pub fn into_napi(self, env: &Env) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
      let mut err: Object = env.create_error(napi::Error::new(
        Status::GenericFailure,
        self.failure.to_string(),
      ))?;
      err.set_named_property("code", self.failure.code().as_str())?;
      let (line, column) = self.failure.position();
      err.set_named_property("line", line)?;
      err.set_named_property("column", column)?;
      if let Some(module) = self.failure.module() {
        err.set_named_property("module", module)?;
      }
      err.set_named_property("logs", self.logs)?;
      err.set_named_property("stats", *self.stats)?;
      Ok(napi::Error::from(err.to_unknown()))
    };
    build().unwrap_or_else(|e| e)
  }
}

/// A bad argument to an exported function, reported the way Node's own APIs report them.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgError {
  /// `TypeError` with code `ERR_INVALID_ARG_TYPE`.
  Type {
    name: String,
    expected: String,
    received: String,
  },
  /// `TypeError` with code `ERR_INVALID_ARG_VALUE`.
  Value { name: String, reason: String },
  /// `RangeError` with code `ERR_INVALID_ARG_VALUE`.
  Range { name: String, reason: String },
}

impl fmt::Display for ArgError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      ArgError::Type {
        name,
        expected,
        received,
      } => {
        write!(
          f,
          "The \"{name}\" argument must be {expected}. Received {received}"
        )
      }
      ArgError::Value { name, reason } | ArgError::Range { name, reason } => {
        write!(f, "The \"{name}\" argument {reason}")
      }
    }
  }
}

impl ArgError {
  pub fn code(&self) -> &'static str {
    match self {
      ArgError::Type { .. } => "ERR_INVALID_ARG_TYPE",
      ArgError::Value { .. } | ArgError::Range { .. } => "ERR_INVALID_ARG_VALUE",
    }
  }

  /// The one conversion to a JavaScript `TypeError` / `RangeError` with `code`.
  pub fn into_napi(self, env: &Env) -> napi::Error {
    let base = napi::Error::new(Status::InvalidArg, self.to_string());
    let build = || -> napi::Result<napi::Error> {
      let err = match self {
        ArgError::Range { .. } => JsRangeError::from(base).into_unknown(*env),
        _ => JsTypeError::from(base).into_unknown(*env),
      };
      let mut err = unsafe { Object::from_napi_value(env.raw(), err.raw())? };
      err.set_named_property("code", self.code())?;
      Ok(napi::Error::from(err.to_unknown()))
    };
    build().unwrap_or_else(|e| e)
  }
}

/// The kind of value an argument was, for the "Received …" part of an [`ArgError`]: every place
/// that describes a bad argument (a napi value, a JSON value, serde's account of one) names its
/// kind here and lets [`ValueKind::describe`] say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
  Undefined,
  Null,
  Boolean,
  Number,
  String,
  BigInt,
  Symbol,
  Function,
  Array,
  Object,
}

impl ValueKind {
  pub fn of_json(value: &serde_json::Value) -> ValueKind {
    match value {
      serde_json::Value::Null => ValueKind::Null,
      serde_json::Value::Bool(_) => ValueKind::Boolean,
      serde_json::Value::Number(_) => ValueKind::Number,
      serde_json::Value::String(_) => ValueKind::String,
      serde_json::Value::Array(_) => ValueKind::Array,
      serde_json::Value::Object(_) => ValueKind::Object,
    }
  }

  /// As Node's own errors say it: `undefined`, `null`, `an array`, `type number (42)`, `type
  /// string ("a long value wi...")` (a preview longer than 28 characters is cut, as Node does).
  pub fn describe(self, preview: Option<&str>) -> String {
    let name = match self {
      ValueKind::Undefined => return "undefined".into(),
      ValueKind::Null => return "null".into(),
      ValueKind::Array => return "an array".into(),
      ValueKind::Boolean => "boolean",
      ValueKind::Number => "number",
      ValueKind::String => "string",
      ValueKind::BigInt => "bigint",
      ValueKind::Symbol => "symbol",
      ValueKind::Function => "function",
      ValueKind::Object => "object",
    };
    match preview {
      Some(p) if p.chars().count() > 28 => {
        let cut: String = p.chars().take(25).collect();
        format!("type {name} ({cut}...)")
      }
      Some(p) => format!("type {name} ({p})"),
      None => format!("type {name}"),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn every_failure_has_a_stable_code_and_a_plain_message() {
    let cases = [
      (
        Failure::CpuTimeout { limit_ms: 1000 },
        "ERR_SCRIPT_TIMEOUT",
        "script exceeded its CPU time limit of 1000 ms",
      ),
      (
        Failure::WallTimeout { limit_ms: 50 },
        "ERR_SCRIPT_TIMEOUT",
        "script exceeded its wall-clock time limit of 50 ms",
      ),
      (
        Failure::Memory { limit_bytes: 1024 },
        "ERR_SCRIPT_MEMORY",
        "script exceeded its memory limit of 1024 bytes",
      ),
      (
        Failure::Syntax(JsError {
          name: "SyntaxError".into(),
          message: "unexpected token".into(),
          line: Some(2),
          column: Some(5),
          module: None,
        }),
        "ERR_SCRIPT_SYNTAX",
        "script has a syntax error (line 2, column 5): unexpected token",
      ),
      (
        Failure::Exception(JsError {
          name: "TypeError".into(),
          message: "x is not a function".into(),
          line: Some(1),
          column: None,
          module: None,
        }),
        "ERR_SCRIPT_EXCEPTION",
        "script threw an uncaught TypeError (line 1): x is not a function",
      ),
    ];
    for (failure, code, message) in cases {
      assert_eq!(failure.code().as_str(), code);
      assert_eq!(failure.to_string(), message);
    }
    assert_eq!(
      Failure::Busy { max_queue: 3 }.code().as_str(),
      "ERR_SCRIPT_BUSY"
    );
    assert_eq!(
      Failure::OutputLimit { limit_bytes: 9 }.code().as_str(),
      "ERR_SCRIPT_OUTPUT_LIMIT"
    );
    let in_module = Failure::Exception(JsError {
      name: "TypeError".into(),
      message: "bad".into(),
      line: Some(4),
      column: Some(11),
      module: Some("validators".into()),
    });
    assert_eq!(
      in_module.to_string(),
      "script threw an uncaught TypeError (module validators, line 4, column 11): bad"
    );
    assert_eq!(in_module.module(), Some("validators"));
  }

  #[test]
  fn each_code_is_spelled_as_the_typescript_union_spells_it() {
    // napi writes the union from the variant names, in UPPER_SNAKE.
    let all = [
      ErrorCode::ErrScriptSyntax,
      ErrorCode::ErrScriptException,
      ErrorCode::ErrScriptModule,
      ErrorCode::ErrScriptTimeout,
      ErrorCode::ErrScriptMemory,
      ErrorCode::ErrScriptOutputLimit,
      ErrorCode::ErrScriptBusy,
      ErrorCode::ErrPageTemplate,
      ErrorCode::ErrPageSessionCookie,
      ErrorCode::ErrPageResponse,
      ErrorCode::ErrScriptInternal,
    ];
    for code in all {
      let name = format!("{code:?}");
      let mut snake = String::new();
      for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
          snake.push('_');
        }
        snake.push(c.to_ascii_uppercase());
      }
      assert_eq!(code.as_str(), snake);
    }
  }

  #[test]
  fn argument_errors_read_like_nodes() {
    let e = ArgError::Type {
      name: "source".into(),
      expected: "of type string".into(),
      received: ValueKind::Number.describe(Some("42")),
    };
    assert_eq!(
      e.to_string(),
      "The \"source\" argument must be of type string. Received type number (42)"
    );
    assert_eq!(e.code(), "ERR_INVALID_ARG_TYPE");
    assert_eq!(
      ValueKind::String.describe(Some(&format!("\"{}\"", "x".repeat(100)))),
      format!("type string (\"{}...)", "x".repeat(24))
    );
    assert_eq!(ValueKind::Array.describe(None), "an array");
    let e = ArgError::Range {
      name: "options.cpuTimeMs".into(),
      reason: "must be a positive integer. Received -1".into(),
    };
    assert_eq!(e.code(), "ERR_INVALID_ARG_VALUE");
  }
}

//! The host globals a script sees, one file each, and the state of one execution they share.
//!
//! Values cross between the script and the host only as JSON text ([`copy_out`] and [`copy_in`]),
//! so nothing of the host is reachable from the script and nothing of the script outlives it.

mod console;
mod cookie;
pub mod http;
mod output;
mod request;
mod response;
mod session;
mod variables;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use napi_derive::napi;
use rquickjs::{Ctx, Exception, Function, Object, Value};

use crate::error::Failure;
pub use cookie::CookieChange;
pub use output::OutputBudget;
pub use request::normalize as normalize_request;
pub use response::Response;
pub use session::Store;

/// One line the script printed with `console.*`.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
  #[napi(ts_type = "'log' | 'info' | 'warn' | 'error' | 'debug'")]
  pub level: String,
  pub message: String,
}

/// What the script printed, shared with the watchdog so that a script stopped from outside still
/// reports its logs.
pub type SharedLogs = Arc<Mutex<Vec<LogEntry>>>;

/// Everything one execution changes. Host functions hold it through [`Shared`].
#[derive(Default)]
pub struct ExecState {
  pub session: Store,
  pub variables: Store,
  pub cookies: Vec<CookieChange>,
  pub response: Response,
  pub logs: console::Logs,
  pub budget: OutputBudget,
  /// Set when the script ended itself (`redirect`, `send`, `json`) or was stopped; every later
  /// host call refuses, and the interrupt handler ends whatever is left.
  pub ended: bool,
  /// Why the script was stopped from the host side, when it was.
  pub failure: Option<Failure>,
  pub http_requests: u32,
  /// The execution this state belongs to, for host calls that wait outside the slot.
  pub execution: Option<std::sync::Arc<crate::sandbox::executor::Execution>>,
}

pub type Shared = Rc<RefCell<ExecState>>;

/// Installs every global that does not depend on the job; runs while the sandbox is prepared.
pub fn install<'js>(ctx: &Ctx<'js>, state: &Shared, host: &Object<'js>) -> rquickjs::Result<()> {
  console::init(ctx, state, host)?;
  session::init(ctx, state)?;
  variables::init(ctx, state)?;
  cookie::init(ctx, state)?;
  response::init(ctx, state)?;
  Ok(())
}

/// Copies a script value out as JSON text, the way `JSON.stringify` would. `undefined` becomes
/// `null`; what JSON cannot hold (a cycle, a BigInt, a function) throws a `TypeError` in the script.
pub fn copy_out<'js>(ctx: &Ctx<'js>, value: Value<'js>, what: &str) -> rquickjs::Result<String> {
  if value.is_undefined() {
    return Ok("null".into());
  }
  if value.is_function() || value.is_symbol() {
    return Err(Exception::throw_type(
      ctx,
      &format!(
        "{what}: a {} cannot be copied; only JSON values can",
        value.type_name()
      ),
    ));
  }
  match ctx.json_stringify(value) {
    Ok(Some(s)) => s.to_string(),
    Ok(None) => Ok("null".into()),
    Err(rquickjs::Error::Exception) => {
      // Re-throw JSON.stringify's own TypeError with the call named.
      let caught = ctx.catch();
      let message = caught
        .as_exception()
        .and_then(|e| e.message())
        .unwrap_or_else(|| "the value cannot be copied".into());
      Err(Exception::throw_type(ctx, &format!("{what}: {message}")))
    }
    Err(e) => Err(e),
  }
}

/// Copies JSON text into the script as a fresh value.
pub fn copy_in<'js>(ctx: &Ctx<'js>, json: &str) -> rquickjs::Result<Value<'js>> {
  ctx.json_parse(json)
}

/// Ends the script now: marks the execution ended and throws an exception that the script's own
/// `try`/`catch`/`finally` cannot intercept.
pub fn end_script<'js>(ctx: &Ctx<'js>, state: &Shared) -> rquickjs::Error {
  state.borrow_mut().ended = true;
  throw_uncatchable(ctx)
}

/// Stops the script with a failure decided by the host (output limit, …).
pub fn fail_script<'js>(ctx: &Ctx<'js>, state: &Shared, failure: Failure) -> rquickjs::Error {
  {
    let mut s = state.borrow_mut();
    s.ended = true;
    s.failure.get_or_insert(failure);
  }
  throw_uncatchable(ctx)
}

fn throw_uncatchable<'js>(ctx: &Ctx<'js>) -> rquickjs::Error {
  let err = match Exception::from_message(ctx.clone(), "script ended") {
    Ok(e) => e.into_value(),
    Err(e) => return e,
  };
  unsafe { rquickjs::qjs::JS_SetUncatchableError(ctx.as_raw().as_ptr(), err.as_raw()) };
  ctx.throw(err)
}

/// Refuses a host call made after the script ended (from a `catch` or `finally` that still ran
/// because the end came from a nested call).
pub fn check_running<'js>(ctx: &Ctx<'js>, state: &Shared) -> rquickjs::Result<()> {
  if state.borrow().ended {
    return Err(throw_uncatchable(ctx));
  }
  Ok(())
}

/// `name` must be a non-empty string; the `TypeError` otherwise names the call.
pub fn string_arg<'js>(ctx: &Ctx<'js>, value: &Value<'js>, what: &str) -> rquickjs::Result<String> {
  match value.as_string() {
    Some(s) => s.to_string(),
    None => Err(Exception::throw_type(
      ctx,
      &format!("{what} must be a string, not {}", value.type_name()),
    )),
  }
}

/// Defines a function property, the shape every host function is installed in.
pub fn define<'js, P, F>(ctx: &Ctx<'js>, on: &Object<'js>, name: &str, f: F) -> rquickjs::Result<()>
where
  F: rquickjs::function::IntoJsFunc<'js, P> + 'js,
{
  let func = Function::new(ctx.clone(), f)?.with_name(name)?;
  on.set(name, func)
}

/// Installs `value` as a global the way built-ins are: writable, configurable and not enumerable,
/// so a script's own `const response = …` shadows it instead of failing to parse.
pub fn define_global<'js>(ctx: &Ctx<'js>, name: &str, value: Value<'js>) -> rquickjs::Result<()> {
  let freeze: Function = ctx.globals().get::<_, Object>("Object")?.get("freeze")?;
  let value: Value = freeze.call((value,))?;
  ctx.globals().prop(
    name,
    rquickjs::object::Property::from(value)
      .writable()
      .configurable(),
  )
}

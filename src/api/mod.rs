//! The host globals a script sees, one file each, and the state of one execution they share.
//!
//! Values cross between the script and the host only as JSON text ([`copy_out`] and [`copy_in`]),
//! so nothing of the host is reachable from the script and nothing of the script outlives it.

mod console;
mod cookie;
pub mod host;
pub mod http;
mod output;
mod request;
pub(crate) mod response;
mod session;
mod variables;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::{Ctx, Exception, Function, Object, Value};

use crate::error::Failure;
use crate::outcome::{CookieChange, Response};
pub use output::OutputBudget;
pub use request::normalize as normalize_request;
pub use session::Store;

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
  /// Set while the host reads what the script threw (its getters may run): host calls refuse.
  pub reporting: bool,
  /// Why the script was stopped from the host side, when it was.
  pub failure: Option<Failure>,
  pub http_requests: u32,
  pub host_calls: u32,
  /// The execution this state belongs to, for host calls that wait outside the slot.
  pub execution: Option<Arc<dyn Waiting>>,
}

/// What the script API needs of the execution it serves, to wait (on HTTP, on the host) without
/// holding up others: its wall-clock budget, and leaving its slot while it waits. The executor's
/// executions implement it.
pub trait Waiting {
  /// When the execution's wall-clock budget runs out.
  fn wall_deadline(&self) -> Instant;
  /// The budget itself (`wallTimeMs`), for messages.
  fn wall_limit(&self) -> Duration;
  /// Runs `wait` without holding a slot, so without CPU and without holding up other executions;
  /// the time counts as waiting on `what`. Returns false when the execution was answered for
  /// meanwhile and must end.
  fn outside_slot(&self, what: Wait, wait: &mut dyn FnMut()) -> bool;
  /// Whether the execution has been told to stop: a budget ran out, its caller is gone, or it
  /// was answered for. A wait in progress gives up at once.
  fn stopped(&self) -> bool;
  /// Adds one HTTP request to the execution's record.
  fn record_request(&self, request: crate::outcome::HttpRecord);
  /// Adds one host function call to the execution's record.
  fn record_host_call(&self, call: crate::outcome::HostCallRecord);
}

/// What an execution waits on outside its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
  Http,
  Host,
}

/// How often a wait outside the slot looks whether its execution was told to stop.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Drives `work` to its end on this thread (the I/O runtime's threads drive its sockets and
/// timers) without a slot, and drops it the moment the execution is told to stop, so nothing goes
/// on for an execution that was answered. `None` when it stopped.
pub fn wait_outside_slot<F: std::future::Future>(
  exec: &Arc<dyn Waiting>,
  what: Wait,
  work: F,
) -> Option<F::Output> {
  let mut work = Some(work);
  let mut outcome = None;
  let answered = !exec.outside_slot(what, &mut || {
    let work = work.take().expect("waited once");
    let waiting = exec.clone();
    outcome = crate::io::runtime().block_on(async move {
      tokio::select! {
        done = work => Some(done),
        _ = async {
          while !waiting.stopped() {
            tokio::time::sleep(STOP_POLL).await;
          }
        } => None,
      }
    });
  });
  outcome.filter(|_| !answered)
}

/// [`wait_outside_slot`] for a call the script made: the script ends at once when the execution
/// was told to stop meanwhile, or with a wall-clock timeout when the wait used up its budget (as
/// it would at its next interrupt poll, rather than finishing on borrowed time). `ended` hears
/// which first (`"stopped"` or `"timeout"`), for the call's record.
pub fn wait_in_script<'js, F: std::future::Future>(
  ctx: &Ctx<'js>,
  state: &Shared,
  exec: &Arc<dyn Waiting>,
  what: Wait,
  work: F,
  ended: impl FnOnce(&'static str),
) -> rquickjs::Result<F::Output> {
  let Some(done) = wait_outside_slot(exec, what, work) else {
    ended("stopped");
    return Err(end_script(ctx, state));
  };
  if Instant::now() >= exec.wall_deadline() {
    ended("timeout");
    let limit_ms = exec.wall_limit().as_millis() as u64;
    return Err(fail_script(ctx, state, Failure::WallTimeout { limit_ms }));
  }
  Ok(done)
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
/// `null`; what JSON cannot hold (a cycle, a BigInt, a function, nesting deeper than
/// `json::MAX_DEPTH`, a number past a double) throws a `TypeError` in the script, and a lone
/// surrogate becomes U+FFFD (see `crate::json`).
pub fn copy_out<'js>(ctx: &Ctx<'js>, value: Value<'js>, what: &str) -> rquickjs::Result<String> {
  if value.is_undefined() {
    return Ok("null".into());
  }
  if value.is_function() || value.is_symbol() {
    return Err(Exception::throw_type(
      ctx,
      &format!(
        "{what}: a {} cannot be copied; only JSON values can",
        type_name(&value)
      ),
    ));
  }
  match ctx.json_stringify(value) {
    Ok(Some(s)) => {
      let text = rust_string(&s)?;
      match crate::json::well_formed(&text) {
        Ok(std::borrow::Cow::Borrowed(_)) => Ok(text),
        Ok(std::borrow::Cow::Owned(mended)) => Ok(mended),
        Err(issue) => Err(Exception::throw_type(
          ctx,
          &format!("{what}: the value {issue}"),
        )),
      }
    }
    Ok(None) => Ok("null".into()),
    Err(rquickjs::Error::Exception) => {
      let caught = ctx.catch();
      // JSON.stringify's own TypeError (a cycle, a BigInt) is re-thrown with the call named.
      // Anything else goes on unchanged: running out of memory must stay a memory failure, and
      // the end of the script (`redirect` inside a `toJSON`) must stay uncatchable.
      let type_error = caught
        .as_exception()
        .filter(|e| e.get::<_, String>("name").is_ok_and(|n| n == "TypeError"));
      match type_error {
        Some(e) => {
          let message = e.message().unwrap_or_default();
          Err(Exception::throw_type(ctx, &format!("{what}: {message}")))
        }
        None => Err(ctx.throw(caught)),
      }
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
  let st = state.borrow();
  if st.ended || st.reporting {
    drop(st);
    return Err(throw_uncatchable(ctx));
  }
  Ok(())
}

/// `name` must be a non-empty string; the `TypeError` otherwise names the call.
pub fn string_arg<'js>(ctx: &Ctx<'js>, value: &Value<'js>, what: &str) -> rquickjs::Result<String> {
  match value.as_string() {
    Some(s) => rust_string(s),
    None => Err(Exception::throw_type(
      ctx,
      &format!("{what} must be a string, not {}", type_name(value)),
    )),
  }
}

/// A script's string as a Rust one. QuickJS fails the copy only when it does not fit in the heap
/// (rquickjs's `to_string` calls that an unknown error), so that is running out of memory; a lone
/// surrogate, which JavaScript strings may hold, becomes U+FFFD as Node writes it.
pub fn rust_string(s: &rquickjs::String<'_>) -> rquickjs::Result<String> {
  let ctx = s.ctx().as_raw().as_ptr();
  let mut len = 0;
  unsafe {
    let ptr = rquickjs::qjs::JS_ToCStringLen(ctx, &mut len, s.as_raw());
    if ptr.is_null() {
      return Err(rquickjs::Error::Allocation);
    }
    let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len);
    let out = utf8_from_wtf8(bytes);
    rquickjs::qjs::JS_FreeCString(ctx, ptr);
    Ok(out)
  }
}

/// QuickJS writes a lone surrogate in its three-byte WTF-8 form (`ED A0..BF xx`), which is not
/// UTF-8; each becomes one U+FFFD.
fn utf8_from_wtf8(mut bytes: &[u8]) -> String {
  let mut out = String::with_capacity(bytes.len());
  loop {
    match std::str::from_utf8(bytes) {
      Ok(rest) => {
        out.push_str(rest);
        return out;
      }
      Err(e) => {
        let (good, bad) = bytes.split_at(e.valid_up_to());
        out.push_str(std::str::from_utf8(good).expect("checked up to here"));
        out.push('\u{FFFD}');
        let surrogate = bad.len() >= 3 && bad[0] == 0xED && (0xA0..=0xBF).contains(&bad[1]);
        let skip = if surrogate {
          3
        } else {
          e.error_len().unwrap_or(bad.len())
        };
        bytes = &bad[skip..];
      }
    }
  }
}

/// What `typeof` says of a value (`null` for null), for messages scripts read: rquickjs's own
/// names (`int`, `big_int`, `constructor`) mean nothing to a script's author.
pub fn type_name(value: &Value<'_>) -> &'static str {
  use rquickjs::Type;
  match value.type_of() {
    Type::Uninitialized | Type::Undefined => "undefined",
    Type::Null => "null",
    Type::Bool => "boolean",
    Type::Int | Type::Float => "number",
    Type::String => "string",
    Type::Symbol => "symbol",
    Type::BigInt => "bigint",
    Type::Function | Type::Constructor => "function",
    _ => "object",
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

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn copy_out_names_the_call_in_json_errors_and_passes_other_errors_on() {
    let rt = rquickjs::Runtime::new().unwrap();
    let context = rquickjs::Context::full(&rt).unwrap();
    context.with(|ctx| {
      let thrown = |source: &str| -> (String, String) {
        let value: Value = ctx.eval(source).unwrap();
        assert!(copy_out(&ctx, value, "session.set").is_err(), "{source}");
        let e = ctx.catch().into_exception().expect("an Error was thrown");
        (e.get("name").unwrap(), e.message().unwrap_or_default())
      };
      let (name, message) = thrown("const o = {}; o.o = o; o");
      assert_eq!(name, "TypeError");
      assert!(message.starts_with("session.set: "), "{message}");
      let (name, message) = thrown("({ toJSON() { throw new RangeError('mine') } })");
      assert_eq!((name.as_str(), message.as_str()), ("RangeError", "mine"));
      let ok: Value = ctx.eval("({ a: [1, undefined], b: undefined })").unwrap();
      assert_eq!(copy_out(&ctx, ok, "x").unwrap(), r#"{"a":[1,null]}"#);
    });
  }

  #[test]
  fn lone_surrogates_become_one_replacement_character_each() {
    assert_eq!(utf8_from_wtf8("plain é 😀".as_bytes()), "plain é 😀");
    assert_eq!(utf8_from_wtf8(b"a\xED\xA0\x80b"), "a\u{FFFD}b");
    assert_eq!(
      utf8_from_wtf8(b"\xED\xBF\xBF\xED\xA0\x80"),
      "\u{FFFD}\u{FFFD}"
    );
    assert_eq!(utf8_from_wtf8(b"\xFFz"), "\u{FFFD}z");
  }

  #[test]
  fn script_strings_with_lone_surrogates_reach_rust() {
    let rt = rquickjs::Runtime::new().unwrap();
    let context = rquickjs::Context::full(&rt).unwrap();
    context.with(|ctx| {
      let s: rquickjs::String = ctx.eval("'a\\uD800b\\uD83D\\uDE00'").unwrap();
      assert_eq!(rust_string(&s).unwrap(), "a\u{FFFD}b😀");
    });
  }

  #[test]
  fn type_names_are_the_ones_typeof_gives() {
    let rt = rquickjs::Runtime::new().unwrap();
    let context = rquickjs::Context::full(&rt).unwrap();
    context.with(|ctx| {
      for (source, expected) in [
        ("5", "number"),
        ("1.5", "number"),
        ("10n", "bigint"),
        ("true", "boolean"),
        ("'s'", "string"),
        ("Symbol()", "symbol"),
        ("undefined", "undefined"),
        ("null", "null"),
        ("(class {})", "function"),
        ("(() => 1)", "function"),
        ("[]", "object"),
        ("new Error()", "object"),
        ("Promise.resolve()", "object"),
        ("({})", "object"),
      ] {
        let value: Value = ctx.eval(source).unwrap();
        assert_eq!(type_name(&value), expected, "{source}");
      }
    });
  }
}

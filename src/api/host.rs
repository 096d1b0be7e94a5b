//! Host functions: the site's own functions (`options.functions`), installed as script globals
//! that look synchronous. A call copies its arguments out as JSON, and the script's thread waits
//! without a slot (so without CPU, like HTTP) while the function runs on the Node thread that
//! started the execution; its result comes back as JSON. `lib/host.js` is the Node side: it
//! calls the function, awaits it, and answers with one string.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use napi::bindgen_prelude::{
  FnArgs, FromNapiValue, Function as NodeFunction, JsObjectValue, Object, Promise, Unknown,
};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::JsValue;
use rquickjs::function::Rest;
use rquickjs::{Ctx, Exception, Function, Value};

use super::{check_running, copy_in, copy_out, define_global, fail_script, Shared, Wait};
use crate::error::ArgError;
use crate::outcome::HostCallRecord;

/// Calls `lib/host.js`'s dispatcher: `(name, argumentsJson) => Promise<answer>`.
type Dispatcher = ThreadsafeFunction<Call, Promise<String>, Call, napi::Status, false>;

/// A call's name and arguments (JSON), as the dispatcher's two parameters.
type Call = FnArgs<(String, String)>;

/// The way to the functions: calls function `name` with `args` (a JSON array) and resolves with
/// the Node side's answer, or fails when the environment that would run it is gone.
pub trait Dispatch: Send + Sync {
  fn call(&self, name: String, args: String) -> Pin<Box<dyn Future<Output = Result<String, ()>>>>;
}

/// The functions one execution may call, and the way to call them.
pub struct HostFunctions {
  pub names: Vec<String>,
  pub dispatch: Box<dyn Dispatch>,
}

/// Node's side: the dispatcher, called on the thread that started the execution.
struct NodeDispatch(Arc<Dispatcher>);

impl Dispatch for NodeDispatch {
  fn call(&self, name: String, args: String) -> Pin<Box<dyn Future<Output = Result<String, ()>>>> {
    let dispatcher = self.0.clone();
    Box::pin(async move {
      let answer = dispatcher
        .call_async(FnArgs::from((name, args)))
        .await
        .map_err(drop)?;
      answer.await.map_err(drop)
    })
  }
}

impl HostFunctions {
  /// Reads what `lib/host.js` made of `options.functions`: `{ names, call }`. The names are
  /// checked here, so that no caller can install a global it should not.
  pub fn from_dispatch(value: &Unknown<'_>) -> Result<HostFunctions, ArgError> {
    let bad = |reason: String| ArgError::Value {
      name: "options.functions".into(),
      reason,
    };
    let env = value.value().env;
    let parts = || -> napi::Result<_> {
      let object = unsafe { Object::from_napi_value(env, value.raw()) }?;
      let names: Vec<String> = object.get_named_property("names")?;
      let call: NodeFunction<Call, Promise<String>> = object.get_named_property("call")?;
      Ok((names, call))
    };
    let (names, call) =
      parts().map_err(|e| bad(format!("is not a set of host functions ({})", e.reason)))?;
    if names.len() > MAX_FUNCTIONS {
      return Err(bad(format!(
        "holds {} functions; at most {MAX_FUNCTIONS} are allowed",
        names.len()
      )));
    }
    for name in &names {
      check_name(name).map_err(&bad)?;
    }
    let dispatcher = call
      .build_threadsafe_function::<Call>()
      .callee_handled::<false>()
      .build()
      .map_err(|e| {
        bad(format!(
          "cannot be called from the script's thread ({})",
          e.reason
        ))
      })?;
    Ok(HostFunctions {
      names,
      dispatch: Box::new(NodeDispatch(Arc::new(dispatcher))),
    })
  }
}

/// How many calls one execution may make, and how long each may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostLimits {
  pub max_calls: u32,
  pub call_timeout: Duration,
}

/// The script API's own globals and the ECMAScript globals (and the words JavaScript reserves):
/// no host function may take their names.
const RESERVED: &[&str] = &[
  // The script API.
  "request",
  "session",
  "http",
  "console",
  "setVariable",
  "getVariable",
  "cookie",
  "redirect",
  "response",
  // ECMAScript globals, QuickJS's included.
  "globalThis",
  "Object",
  "Function",
  "Array",
  "Number",
  "parseFloat",
  "parseInt",
  "Infinity",
  "NaN",
  "undefined",
  "Boolean",
  "String",
  "Symbol",
  "Date",
  "Promise",
  "RegExp",
  "Error",
  "AggregateError",
  "EvalError",
  "RangeError",
  "ReferenceError",
  "SyntaxError",
  "TypeError",
  "URIError",
  "InternalError",
  "SuppressedError",
  "DisposableStack",
  "AsyncDisposableStack",
  "JSON",
  "Math",
  "Intl",
  "ArrayBuffer",
  "SharedArrayBuffer",
  "Atomics",
  "DataView",
  "Uint8Array",
  "Int8Array",
  "Uint16Array",
  "Int16Array",
  "Uint32Array",
  "Int32Array",
  "Float16Array",
  "Float32Array",
  "Float64Array",
  "Uint8ClampedArray",
  "BigUint64Array",
  "BigInt64Array",
  "Map",
  "Set",
  "WeakMap",
  "WeakSet",
  "BigInt",
  "Proxy",
  "Reflect",
  "FinalizationRegistry",
  "WeakRef",
  "Iterator",
  "decodeURI",
  "decodeURIComponent",
  "encodeURI",
  "encodeURIComponent",
  "escape",
  "unescape",
  "eval",
  "isFinite",
  "isNaN",
  "queueMicrotask",
  "structuredClone",
  "performance",
  "navigator",
  "arguments",
  // Reserved words, strict mode's included.
  "await",
  "break",
  "case",
  "catch",
  "class",
  "const",
  "continue",
  "debugger",
  "default",
  "delete",
  "do",
  "else",
  "enum",
  "export",
  "extends",
  "false",
  "finally",
  "for",
  "function",
  "if",
  "implements",
  "import",
  "in",
  "instanceof",
  "interface",
  "let",
  "new",
  "null",
  "package",
  "private",
  "protected",
  "public",
  "return",
  "static",
  "super",
  "switch",
  "this",
  "throw",
  "true",
  "try",
  "typeof",
  "var",
  "void",
  "while",
  "with",
  "yield",
];

/// The most host functions one execution may be given.
pub const MAX_FUNCTIONS: usize = 256;

/// `Ok` when `name` may name a host function: an ASCII identifier of at most 64 characters that
/// is none of [`RESERVED`]. Otherwise why not.
pub fn check_name(name: &str) -> Result<(), String> {
  let identifier = name.len() <= 64
    && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
    && name
      .chars()
      .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
  if !identifier {
    return Err(format!(
      "{name:?} is not a valid name: host functions are named by ASCII identifiers of at most \
       64 characters"
    ));
  }
  if RESERVED.contains(&name) {
    return Err(format!(
      "{name:?} would shadow the script API, an ECMAScript global or a reserved word"
    ));
  }
  Ok(())
}

/// Installs each function as a global of its name.
pub fn install<'js>(
  ctx: &Ctx<'js>,
  state: &Shared,
  host: Arc<HostFunctions>,
  limits: HostLimits,
) -> rquickjs::Result<()> {
  for (index, name) in host.names.iter().enumerate() {
    let (s, h) = (state.clone(), host.clone());
    let f = Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Rest<Value<'js>>| {
      call(&ctx, &s, &h, index, limits, args.0)
    })?
    .with_name(name.as_str())?;
    define_global(ctx, name, f.into_value())?;
  }
  Ok(())
}

/// What the Node side answered: the first character says which.
enum Answer {
  /// `v` and the JSON of the value; nothing for `undefined`.
  Value(String),
  /// `e` and the message the function's error exposes (`expose === true`), or nothing.
  Threw(Option<String>),
  /// `j`: the value could not be copied as JSON.
  NotJson,
  /// No answer: the JavaScript environment that would run the function is gone.
  Unavailable,
  /// No answer within `hostCallTimeoutMs`.
  TimedOut,
}

impl Answer {
  fn parse(text: String) -> Answer {
    match text.split_at_checked(1) {
      Some(("v", json)) => Answer::Value(json.to_string()),
      Some(("e", "")) => Answer::Threw(None),
      Some(("e", message)) => Answer::Threw(Some(message.to_string())),
      Some(("j", _)) => Answer::NotJson,
      _ => Answer::Threw(None),
    }
  }
}

fn call<'js>(
  ctx: &Ctx<'js>,
  state: &Shared,
  host: &Arc<HostFunctions>,
  index: usize,
  limits: HostLimits,
  args: Vec<Value<'js>>,
) -> rquickjs::Result<Value<'js>> {
  check_running(ctx, state)?;
  let name = &host.names[index];
  let (made, exec) = {
    let st = state.borrow();
    (
      st.host_calls,
      st.execution.clone().expect("an execution is running"),
    )
  };
  if made >= limits.max_calls {
    return Err(Exception::throw_message(
      ctx,
      &format!(
        "host function call limit reached: {} per script execution (maxHostCalls)",
        limits.max_calls
      ),
    ));
  }
  state.borrow_mut().host_calls += 1;
  let array = rquickjs::Array::new(ctx.clone())?;
  for (i, a) in args.into_iter().enumerate() {
    array.set(i, a)?;
  }
  let args = copy_out(ctx, array.into_value(), &format!("{name}: the arguments"))?;
  // The arguments are held by the host while it works: they must fit in what is left of the
  // output budget, as everything a script makes the host hold does.
  let room = state.borrow().budget.check_room(args.len());
  if let Err(failure) = room {
    return Err(fail_script(ctx, state, failure));
  }

  let started = Instant::now();
  let record = |error: Option<&str>| HostCallRecord {
    name: name.clone(),
    duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    error: error.map(String::from),
  };
  let answer = host.dispatch.call(name.clone(), args);
  let waited = async move {
    match tokio::time::timeout(limits.call_timeout, answer).await {
      Ok(Ok(text)) => Answer::parse(text),
      Ok(Err(())) => Answer::Unavailable,
      Err(_elapsed) => Answer::TimedOut,
    }
  };
  let answer = super::wait_in_script(ctx, state, &exec, Wait::Host, waited, |why| {
    exec.record_host_call(record(Some(why)))
  })?;
  let (error, thrown) = match answer {
    Answer::Value(json) if json.is_empty() => {
      exec.record_host_call(record(None));
      return Ok(Value::new_undefined(ctx.clone()));
    }
    Answer::Value(json) => {
      exec.record_host_call(record(None));
      let counted = state.borrow_mut().budget.replace(0, json.len());
      if let Err(failure) = counted {
        return Err(fail_script(ctx, state, failure));
      }
      return copy_in(ctx, &json);
    }
    Answer::Threw(Some(message)) => ("threw", message),
    Answer::Threw(None) => ("threw", format!("host function {name} failed")),
    Answer::NotJson => (
      "not-json",
      format!(
        "host function {name} returned a value that cannot be copied into a script: it is not \
         JSON (a cycle, a BigInt, or a getter or toJSON that threw)"
      ),
    ),
    Answer::Unavailable => (
      "unavailable",
      format!("host function {name} could not be called: the JavaScript environment that started the script is gone"),
    ),
    Answer::TimedOut => (
      "timeout",
      format!(
        "host function {name} did not answer within {} ms (hostCallTimeoutMs)",
        limits.call_timeout.as_millis()
      ),
    ),
  };
  exec.record_host_call(record(Some(error)));
  Err(Exception::throw_message(ctx, &thrown))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn host_functions_are_named_by_identifiers_that_shadow_nothing() {
    for good in [
      "getOrders",
      "getCustomer",
      "_private",
      "$find",
      "a1",
      "fetchUser2",
    ] {
      assert_eq!(check_name(good), Ok(()), "{good}");
    }
    for bad in [
      "",
      "get-orders",
      "1st",
      "get orders",
      "café",
      "a.b",
      "__proto__x!",
      &"a".repeat(65),
      "request",
      "session",
      "http",
      "console",
      "setVariable",
      "redirect",
      "response",
      "cookie",
      "JSON",
      "Object",
      "eval",
      "globalThis",
      "Promise",
      "class",
      "await",
      "undefined",
    ] {
      assert!(check_name(bad).is_err(), "{bad:?}");
    }
  }

  #[test]
  fn answers_are_read_by_their_first_character() {
    assert!(matches!(Answer::parse("v[1]".into()), Answer::Value(j) if j == "[1]"));
    assert!(matches!(Answer::parse("e".into()), Answer::Threw(None)));
    assert!(
      matches!(Answer::parse("eNo such order".into()), Answer::Threw(Some(m)) if m == "No such order")
    );
    assert!(matches!(Answer::parse("j".into()), Answer::NotJson));
    assert!(matches!(Answer::parse(String::new()), Answer::Threw(None)));
    assert!(matches!(Answer::parse("é".into()), Answer::Threw(None)));
  }
}

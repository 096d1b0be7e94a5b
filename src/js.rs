//! The Node side of the boundary: arguments arrive as JSON text (Node's own `JSON.stringify`, so
//! they have exactly JSON semantics and cost one native call), and JSON text leaves as values
//! (Node's `JSON.parse`). The sandbox side has its twin in `api::copy_in/copy_out`.

use napi::bindgen_prelude::{
  FromNapiValue, Function, JsObjectValue, Object, ToNapiValue, TypeName, Unknown, ValueType,
};
use napi::{sys, Env, JsValue};

use crate::error::{ArgError, ValueKind};
use crate::sandbox::Caller;

/// Settles a promise on Node's thread: made on whichever thread has the outcome, run on Node's.
pub type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T> + Send>;

fn json_function<'env>(
  env: &'env Env,
  name: &str,
) -> napi::Result<Function<'env, Unknown<'env>, Unknown<'env>>> {
  let json: Object = env.get_global()?.get_named_property("JSON")?;
  json.get_named_property(name)
}

/// `null`/`undefined` → `None`; a plain object → its JSON text; anything else → `ERR_INVALID_ARG_TYPE`.
pub fn object_arg(
  env: &Env,
  value: Option<Unknown>,
  name: &str,
  type_name: &str,
) -> Result<Option<String>, ArgError> {
  let Some(value) = value else { return Ok(None) };
  let kind = value.get_type().unwrap_or(ValueType::Unknown);
  match kind {
    ValueType::Undefined | ValueType::Null => return Ok(None),
    ValueType::Object if !value.is_array().unwrap_or(false) => {}
    _ => {
      return Err(ArgError::Type {
        name: name.into(),
        expected: format!("an object ({type_name}) or null"),
        received: received(&value),
      })
    }
  }
  let stringify = |v: Unknown| -> napi::Result<String> {
    let text = json_function(env, "stringify")?.call(v)?;
    unsafe { String::from_napi_value(env.raw(), text.raw()) }
  };
  stringify(value).map(Some).map_err(|_| ArgError::Value {
    name: name.into(),
    reason: "cannot be copied into a script: it holds a cycle, a BigInt or another value JSON cannot represent".into(),
  })
}

/// A string argument of at most `max_bytes` (UTF-8), or `ERR_INVALID_ARG_TYPE` /
/// `ERR_INVALID_ARG_VALUE`.
pub fn string_arg(
  value: Option<Unknown>,
  name: &str,
  max_bytes: usize,
) -> Result<String, ArgError> {
  let kind = value.as_ref().map_or(ValueType::Undefined, |v| {
    v.get_type().unwrap_or(ValueType::Unknown)
  });
  match value {
    Some(v) if kind == ValueType::String => {
      // Its length first, so that an oversized string is refused before it is copied.
      let mut len = 0;
      unsafe {
        sys::napi_get_value_string_utf8(v.value().env, v.raw(), std::ptr::null_mut(), 0, &mut len)
      };
      if len > max_bytes {
        return Err(ArgError::Range {
          name: name.into(),
          reason: format!("is {len} bytes long (UTF-8); at most {max_bytes} are allowed"),
        });
      }
      unsafe { String::from_napi_value(v.value().env, v.raw()) }.map_err(|e| ArgError::Value {
        name: name.into(),
        reason: e.reason,
      })
    }
    v => Err(ArgError::Type {
      name: name.into(),
      expected: "of type string".into(),
      received: v.map_or_else(|| "undefined".into(), |v| received(&v)),
    }),
  }
}

/// A property of an object argument; `None` when the argument is no object or the property is
/// `null` or `undefined`. For the options that are not JSON (functions, compiled modules), read
/// before the rest is copied as JSON.
pub fn property<'env>(value: Option<&Unknown<'env>>, key: &str) -> Option<Unknown<'env>> {
  let value = value?;
  if value.get_type().ok()? != ValueType::Object {
    return None;
  }
  let object = unsafe { Object::from_napi_value(value.value().env, value.raw()) }.ok()?;
  let found: Unknown = object.get_named_property(key).ok()?;
  match found.get_type().ok()? {
    ValueType::Undefined | ValueType::Null => None,
    _ => Some(found),
  }
}

/// Reads a value of a `#[napi]` class (checked by its type tag, so no other object passes), or
/// fails with `ERR_INVALID_ARG_TYPE`.
pub fn instance_arg<T, R>(
  value: &Unknown<'_>,
  name: &str,
  expected: &str,
  read: impl FnOnce(&T) -> R,
) -> Result<R, ArgError>
where
  T: napi::bindgen_prelude::TypeTag + 'static,
{
  let env = value.value().env;
  let mut wrapped: *mut std::ffi::c_void = std::ptr::null_mut();
  let ours = unsafe {
    napi::bindgen_prelude::validate_type_tag(env, value.raw(), &T::type_tag(), "").is_ok()
      && sys::napi_unwrap(env, value.raw(), &mut wrapped) == sys::Status::napi_ok
      && !wrapped.is_null()
  };
  if !ours {
    return Err(ArgError::Type {
      name: name.into(),
      expected: expected.into(),
      received: received(value),
    });
  }
  // napi-rs wraps each instance as a pointer to its struct, kept alive by the object, which
  // the caller holds for the whole call.
  Ok(read(unsafe { &*wrapped.cast::<T>() }))
}

/// What kind of value a napi value is.
pub fn kind_of(value: &Unknown) -> ValueKind {
  match value.get_type().unwrap_or(ValueType::Unknown) {
    ValueType::Undefined => ValueKind::Undefined,
    ValueType::Null => ValueKind::Null,
    ValueType::Boolean => ValueKind::Boolean,
    ValueType::Number => ValueKind::Number,
    ValueType::String => ValueKind::String,
    ValueType::BigInt => ValueKind::BigInt,
    ValueType::Symbol => ValueKind::Symbol,
    ValueType::Function => ValueKind::Function,
    _ if value.is_array().unwrap_or(false) => ValueKind::Array,
    _ => ValueKind::Object,
  }
}

/// A bad argument, described as Node describes one (numbers and booleans previewed).
fn received(value: &Unknown) -> String {
  let kind = kind_of(value);
  let preview = match kind {
    ValueKind::Number => value
      .coerce_to_number()
      .ok()
      .and_then(|n| n.get_double().ok())
      .map(|n| n.to_string()),
    ValueKind::Boolean => value.coerce_to_bool().ok().map(|b| b.to_string()),
    _ => None,
  };
  kind.describe(preview.as_deref())
}

/// The [`Caller`] standing for this thread's environment, marked gone when Node tears it down.
pub fn caller(env: &Env) -> Caller {
  thread_local! {
    static CALLER: std::cell::RefCell<Option<Caller>> = const { std::cell::RefCell::new(None) };
  }
  CALLER.with(|slot| {
    let mut slot = slot.borrow_mut();
    if let Some(c) = slot.as_ref() {
      return c.clone();
    }
    let caller = Caller::default();
    // Without the hook the executions would only run on unanswered; that is the worst outcome.
    let _ = env.add_env_cleanup_hook(caller.clone(), |c| c.mark_gone());
    *slot = Some(caller.clone());
    caller
  })
}

/// JSON text that reaches JavaScript as the value it encodes: results are serialized on the
/// executor thread, so that Node's thread only runs one `JSON.parse` for each.
pub struct JsonText(pub String);

impl JsonText {
  /// Serializes a result (on the executor thread).
  pub fn of<T: serde::Serialize>(value: &T) -> JsonText {
    JsonText(serde_json::to_string(value).expect("results are plain data"))
  }
}

impl serde::Serialize for JsonText {
  /// As the JSON it holds, not as a string.
  fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
    let raw = serde_json::value::RawValue::from_string(self.0.clone())
      .map_err(serde::ser::Error::custom)?;
    raw.serialize(s)
  }
}

impl TypeName for JsonText {
  fn type_name() -> &'static str {
    "JsonText"
  }

  fn value_type() -> ValueType {
    ValueType::Object
  }
}

impl ToNapiValue for JsonText {
  unsafe fn to_napi_value(raw_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let text = env.create_string(&val.0)?;
    let parsed = json_function(&env, "parse")?.call(text.to_unknown())?;
    Ok(parsed.raw())
  }
}

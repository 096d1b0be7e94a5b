//! Compiled scripts, cached. Parsing a large script costs far more than loading its bytecode, and
//! pages run the same script on every request, so the bytecode of each script the addon compiles
//! is kept in a bounded cache keyed by the SHA-256 of its source. Only bytecode the addon wrote
//! itself is ever read back: QuickJS trusts bytecode completely, so none comes from outside.

use std::ffi::CString;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rquickjs::{qjs, Ctx, Value};

use crate::cache::{self, BoundedCache};

/// Entries kept at most, …
const MAX_ENTRIES: usize = 512;
/// … and bytes of bytecode at most.
const MAX_BYTES: usize = 64 << 20;

type Key = [u8; 32];

fn compiled() -> MutexGuard<'static, BoundedCache<Key, Arc<[u8]>>> {
  static CACHE: OnceLock<Mutex<BoundedCache<Key, Arc<[u8]>>>> = OnceLock::new();
  cache::lock(CACHE.get_or_init(|| Mutex::new(BoundedCache::new(MAX_ENTRIES, MAX_BYTES))))
}

fn key(name: &str, source: &str) -> Key {
  let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
  ctx.update(name.as_bytes());
  ctx.update(&[0]);
  ctx.update(source.as_bytes());
  ctx
    .finish()
    .as_ref()
    .try_into()
    .expect("SHA-256 is 32 bytes")
}

/// The compiled script, from the cache or freshly parsed (and then cached). A syntax error comes
/// back as the pending exception.
pub fn compile<'js>(ctx: &Ctx<'js>, source: &str, name: &str) -> rquickjs::Result<Value<'js>> {
  let key = key(name, source);
  let cached = compiled().get(&key);
  if let Some(code) = cached {
    if let Ok(f) = read(ctx, &code) {
      return Ok(f);
    }
    ctx.catch();
  }
  let f = parse(ctx, source, name)?;
  if let Some(code) = write(ctx, &f) {
    let bytes = code.len();
    compiled().insert(key, code, bytes);
  }
  Ok(f)
}

/// The prelude, compiled once per process: it is the addon's own code and the same in every
/// sandbox, so it needs neither hashing nor a place in the bounded cache.
pub fn prelude<'js>(ctx: &Ctx<'js>, source: &str) -> rquickjs::Result<Value<'js>> {
  static CODE: OnceLock<Arc<[u8]>> = OnceLock::new();
  if let Some(code) = CODE.get() {
    return read(ctx, code);
  }
  let f = parse(ctx, source, "prelude")?;
  if let Some(code) = write(ctx, &f) {
    let _ = CODE.set(code);
  }
  Ok(f)
}

fn parse<'js>(ctx: &Ctx<'js>, source: &str, name: &str) -> rquickjs::Result<Value<'js>> {
  // QuickJS wants a NUL after the source; a NUL inside it is a syntax error the parser reports.
  let source = CString::new(source.replace('\0', "\u{FFFD}")).expect("NULs were replaced");
  let name = CString::new(name).expect("no NUL in script names");
  unsafe {
    let flags = (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32;
    let len = source.as_bytes().len();
    let v = qjs::JS_Eval(
      ctx.as_raw().as_ptr(),
      source.as_ptr(),
      len as _,
      name.as_ptr(),
      flags,
    );
    if qjs::JS_IsException(v) {
      return Err(rquickjs::Error::Exception);
    }
    Ok(Value::from_raw(ctx.clone(), v))
  }
}

fn write(ctx: &Ctx<'_>, f: &Value<'_>) -> Option<Arc<[u8]>> {
  unsafe {
    let mut len = 0usize;
    let buf = qjs::JS_WriteObject(
      ctx.as_raw().as_ptr(),
      &mut len as *mut usize as *mut _,
      f.as_raw(),
      qjs::JS_WRITE_OBJ_BYTECODE as i32,
    );
    if buf.is_null() {
      ctx.catch();
      return None;
    }
    let code: Arc<[u8]> = std::slice::from_raw_parts(buf, len).into();
    qjs::js_free(ctx.as_raw().as_ptr(), buf as *mut _);
    Some(code)
  }
}

fn read<'js>(ctx: &Ctx<'js>, code: &[u8]) -> rquickjs::Result<Value<'js>> {
  unsafe {
    let v = qjs::JS_ReadObject(
      ctx.as_raw().as_ptr(),
      code.as_ptr(),
      code.len() as _,
      qjs::JS_READ_OBJ_BYTECODE as i32,
    );
    if qjs::JS_IsException(v) {
      return Err(rquickjs::Error::Exception);
    }
    Ok(Value::from_raw(ctx.clone(), v))
  }
}

/// Runs a compiled script.
pub fn evaluate<'js>(ctx: &Ctx<'js>, compiled: Value<'js>) -> rquickjs::Result<Value<'js>> {
  unsafe {
    // JS_EvalFunction takes ownership of the function it runs.
    let f = qjs::JS_DupValue(ctx.as_raw().as_ptr(), compiled.as_raw());
    let r = qjs::JS_EvalFunction(ctx.as_raw().as_ptr(), f);
    if qjs::JS_IsException(r) {
      return Err(rquickjs::Error::Exception);
    }
    Ok(Value::from_raw(ctx.clone(), r))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn the_key_depends_on_name_and_source() {
    assert_ne!(key("a", "x"), key("b", "x"));
    assert_ne!(key("a", "x"), key("a", "y"));
    assert_ne!(key("ab", "c"), key("a", "bc"));
    assert_eq!(key("a", "x"), key("a", "x"));
  }
}

//! Compiled scripts, cached. Parsing a large script costs far more than loading its bytecode, and
//! pages run the same script on every request, so the bytecode of each script the addon compiles
//! is kept in a bounded cache keyed by the SHA-256 of its source. Only bytecode the addon wrote
//! itself is ever read back: QuickJS trusts bytecode completely, so none comes from outside.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rquickjs::{qjs, Ctx, Value};

use super::modules;
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
///
/// A script that parses only as an ES module (`import` or `export` declarations, top-level
/// `await`) is one: it is parsed as one when it does not parse as a script, and its imports are
/// then loaded and linked through the runtime's module hooks (`modules::Loader`), which must hold
/// the execution's set.
pub fn compile<'js>(ctx: &Ctx<'js>, source: &str, name: &str) -> Result<Value<'js>, ()> {
  let key = key(name, source);
  let cached = compiled().get(&key);
  if let Some(code) = cached {
    if let Ok(f) = read(ctx, &code) {
      return match modules::is_module(&f) {
        true => modules::resolve(ctx, f),
        false => Ok(f),
      };
    }
    ctx.catch();
  }
  let f = parse_script_or_module(ctx, source, name)?;
  if let Some(code) = unsafe { modules::write(ctx, &f) } {
    let bytes = code.len();
    compiled().insert(key, code.into(), bytes);
  }
  Ok(f)
}

/// Parses `source` as a script, or as a module when only that parses. When neither does, the
/// error reported is the one of the parse that got further (a module's when it failed at an
/// import that did not resolve): a script's own mistake is found at the same place either way.
fn parse_script_or_module<'js>(ctx: &Ctx<'js>, source: &str, name: &str) -> Result<Value<'js>, ()> {
  let as_script = unsafe { modules::parse(ctx, source, name, qjs::JS_EVAL_TYPE_GLOBAL) };
  if as_script.is_ok() {
    return as_script;
  }
  let script_error = ctx.catch();
  if !script_error
    .as_exception()
    .is_some_and(|e| e.get::<_, String>("name").is_ok_and(|n| n == "SyntaxError"))
  {
    // Out of memory or stack: not a question of which kind of code this is.
    ctx.throw(script_error);
    return Err(());
  }
  match unsafe { modules::parse(ctx, source, name, qjs::JS_EVAL_TYPE_MODULE) } {
    Ok(module) => Ok(module),
    Err(()) => {
      let module_error = ctx.catch();
      let further = super::runtime::error_position(&module_error)
        > super::runtime::error_position(&script_error);
      let _ = ctx.throw(if further { module_error } else { script_error });
      Err(())
    }
  }
}

/// The prelude, compiled once per process: it is the addon's own code and the same in every
/// sandbox, so it needs neither hashing nor a place in the bounded cache.
pub fn prelude<'js>(ctx: &Ctx<'js>, source: &str) -> rquickjs::Result<Value<'js>> {
  static CODE: OnceLock<Arc<[u8]>> = OnceLock::new();
  if let Some(code) = CODE.get() {
    return read(ctx, code);
  }
  let f = unsafe {
    modules::parse(
      ctx,
      source,
      super::runtime::PRELUDE_NAME,
      qjs::JS_EVAL_TYPE_GLOBAL,
    )
  }
  .map_err(|()| rquickjs::Error::Exception)?;
  if let Some(code) = unsafe { modules::write(ctx, &f) } {
    let _ = CODE.set(code.into());
  }
  Ok(f)
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

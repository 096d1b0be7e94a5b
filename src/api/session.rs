//! `session.get/set/delete`, and [`Store`], the copy-on-write map of JSON values behind both the
//! session and the template variables.

use indexmap::IndexMap;
use rquickjs::{Ctx, Object, Value};
use serde_json::{Map, Value as Json};

use super::{
  check_running, copy_in, copy_out, define, define_global, fail_script, string_arg, Shared,
};

/// Keys to JSON text, in insertion order. Values are copied on every `get` and `set`, so a script
/// holding a value it read cannot change the stored one behind the host's back.
#[derive(Debug, Default, Clone)]
pub struct Store {
  entries: IndexMap<String, String>,
  changed: bool,
}

impl Store {
  pub fn from_map(map: Map<String, Json>) -> Self {
    let entries = map.into_iter().map(|(k, v)| (k, v.to_string())).collect();
    Store {
      entries,
      changed: false,
    }
  }

  pub fn get(&self, key: &str) -> Option<&str> {
    self.entries.get(key).map(String::as_str)
  }

  /// Stores `json` under `key`; returns the bytes the entry held before and holds now.
  pub fn set(&mut self, key: String, json: String) -> (usize, usize) {
    let new = key.len() + json.len();
    let old = match self.entries.get(&key) {
      Some(v) if *v == json => return (new, new),
      Some(v) => key.len() + v.len(),
      None => 0,
    };
    self.entries.insert(key, json);
    self.changed = true;
    (old, new)
  }

  /// Removes `key`; returns the bytes it held (0 when it was absent).
  pub fn delete(&mut self, key: &str) -> usize {
    match self.entries.shift_remove(key) {
      Some(v) => {
        self.changed = true;
        key.len() + v.len()
      }
      None => 0,
    }
  }

  pub fn changed(&self) -> bool {
    self.changed
  }

  /// Bytes the store adds to the output.
  pub fn size(&self) -> usize {
    self.entries.iter().map(|(k, v)| k.len() + v.len()).sum()
  }

  /// The whole store as one JSON object.
  pub fn to_json(&self) -> String {
    let mut out = String::with_capacity(self.size() + 2 + 4 * self.entries.len());
    out.push('{');
    for (i, (k, v)) in self.entries.iter().enumerate() {
      if i > 0 {
        out.push(',');
      }
      out.push_str(&Json::String(k.clone()).to_string());
      out.push(':');
      out.push_str(v);
    }
    out.push('}');
    out
  }
}

pub fn init<'js>(ctx: &Ctx<'js>, state: &Shared) -> rquickjs::Result<()> {
  let session = Object::new(ctx.clone())?;
  let s = state.clone();
  define(
    ctx,
    &session,
    "get",
    move |ctx: Ctx<'js>, key: Value<'js>| -> rquickjs::Result<Value<'js>> {
      check_running(&ctx, &s)?;
      let key = string_arg(&ctx, &key, "session.get: the key")?;
      let json = s.borrow().session.get(&key).map(str::to_owned);
      match json {
        Some(json) => copy_in(&ctx, &json),
        None => Ok(Value::new_null(ctx.clone())),
      }
    },
  )?;
  let s = state.clone();
  define(
    ctx,
    &session,
    "set",
    move |ctx: Ctx<'js>, key: Value<'js>, value: Value<'js>| -> rquickjs::Result<()> {
      check_running(&ctx, &s)?;
      let key = string_arg(&ctx, &key, "session.set: the key")?;
      let json = copy_out(&ctx, value, "session.set")?;
      let mut st = s.borrow_mut();
      let (old, new) = st.session.set(key, json);
      if let Err(f) = st.budget.replace(old, new) {
        drop(st);
        return Err(fail_script(&ctx, &s, f));
      }
      Ok(())
    },
  )?;
  let s = state.clone();
  define(
    ctx,
    &session,
    "delete",
    move |ctx: Ctx<'js>, key: Value<'js>| -> rquickjs::Result<bool> {
      check_running(&ctx, &s)?;
      let key = string_arg(&ctx, &key, "session.delete: the key")?;
      let mut st = s.borrow_mut();
      let old = st.session.delete(&key);
      let _ = st.budget.replace(old, 0);
      Ok(old > 0)
    },
  )?;
  define_global(ctx, "session", session.into_value())
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn setting_the_same_value_is_not_a_change() {
    let mut map = Map::new();
    map.insert("n".into(), Json::from(1));
    let mut s = Store::from_map(map);
    assert_eq!(s.set("n".into(), "1".into()), (2, 2));
    assert!(!s.changed());
    assert_eq!(s.delete("missing"), 0);
    assert!(!s.changed());
    assert_eq!(s.set("n".into(), "2".into()), (2, 2));
    assert!(s.changed());
  }

  #[test]
  fn serializes_in_insertion_order_with_escaped_keys() {
    let mut s = Store::default();
    s.set("b".into(), "1".into());
    s.set("a\"q".into(), "{\"x\":[1]}".into());
    assert_eq!(s.to_json(), r#"{"b":1,"a\"q":{"x":[1]}}"#);
    s.delete("b");
    assert_eq!(s.to_json(), r#"{"a\"q":{"x":[1]}}"#);
  }
}

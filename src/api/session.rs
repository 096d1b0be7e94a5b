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
  /// What each key the script set or deleted held before it first did (`None`: absent).
  before: IndexMap<String, Option<String>>,
}

impl Store {
  pub fn from_map(map: Map<String, Json>) -> Self {
    let entries = map.into_iter().map(|(k, v)| (k, v.to_string())).collect();
    Store {
      entries,
      before: IndexMap::new(),
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
    self.remember(&key);
    self.entries.insert(key, json);
    (old, new)
  }

  /// Removes `key`; returns the bytes it held (0 when it was absent).
  pub fn delete(&mut self, key: &str) -> usize {
    if !self.entries.contains_key(key) {
      return 0;
    }
    self.remember(key);
    let v = self.entries.shift_remove(key).expect("present");
    key.len() + v.len()
  }

  fn remember(&mut self, key: &str) {
    if !self.before.contains_key(key) {
      let was = self.entries.get(key).cloned();
      self.before.insert(key.to_string(), was);
    }
  }

  /// What the script changed, key by key: the keys it left with another value than they had, and
  /// the keys it deleted. Setting a key back to what it held is no change.
  pub fn changes(&self) -> StoreChanges {
    let mut changes = StoreChanges::default();
    for (key, was) in &self.before {
      match (self.entries.get(key), was) {
        (Some(now), Some(was)) if now == was => {}
        (Some(now), _) => changes.set.push((key.clone(), now.clone())),
        (None, Some(_)) => changes.deleted.push(key.clone()),
        (None, None) => {}
      }
    }
    changes
  }

  /// Bytes the store adds to the output.
  pub fn size(&self) -> usize {
    self.entries.iter().map(|(k, v)| k.len() + v.len()).sum()
  }

  /// The whole store as one JSON object.
  pub fn to_json(&self) -> String {
    json_object(self.entries.iter())
  }
}

/// A store's changes, as [`Store::changes`] finds them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StoreChanges {
  /// Keys and the JSON text they hold now.
  pub set: Vec<(String, String)>,
  pub deleted: Vec<String>,
}

impl StoreChanges {
  pub fn is_empty(&self) -> bool {
    self.set.is_empty() && self.deleted.is_empty()
  }

  /// `{"set":{…},"deleted":[…]}`.
  pub fn to_json(&self) -> String {
    let set = json_object(self.set.iter().map(|(k, v)| (k, v)));
    let deleted = serde_json::to_string(&self.deleted).expect("strings serialize");
    format!(r#"{{"set":{set},"deleted":{deleted}}}"#)
  }
}

/// A JSON object from keys and JSON texts.
fn json_object<'a>(entries: impl Iterator<Item = (&'a String, &'a String)>) -> String {
  let mut out = String::from("{");
  for (i, (k, v)) in entries.enumerate() {
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
    assert!(s.changes().is_empty());
    assert_eq!(s.delete("missing"), 0);
    assert!(s.changes().is_empty());
    assert_eq!(s.set("n".into(), "2".into()), (2, 2));
    assert_eq!(s.changes().set, [("n".to_string(), "2".to_string())]);
    s.set("n".into(), "1".into());
    assert!(s.changes().is_empty(), "set back to what it was");
  }

  #[test]
  fn changes_name_the_keys_set_and_deleted_only() {
    let mut map = Map::new();
    map.insert("keep".into(), Json::from(1));
    map.insert("gone".into(), Json::from(2));
    let mut s = Store::from_map(map);
    s.delete("gone");
    s.set("new".into(), "[1]".into());
    s.set("brief".into(), "3".into());
    s.delete("brief");
    let changes = s.changes();
    assert_eq!(changes.set, [("new".to_string(), "[1]".to_string())]);
    assert_eq!(changes.deleted, ["gone"]);
    assert_eq!(
      changes.to_json(),
      r#"{"set":{"new":[1]},"deleted":["gone"]}"#
    );
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

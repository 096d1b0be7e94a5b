//! The `request` global: a normalized, deep-frozen copy of `context.request`, so that
//! `request.query.token` never throws and every field has the documented type.

use serde_json::{json, Map, Value};

use crate::error::{ArgError, ValueKind};
use crate::options::ScriptRequest;

/// Normalizes the request into the JSON the script receives.
pub fn normalize(req: Option<ScriptRequest>) -> Result<String, ArgError> {
  let req = req.unwrap_or_default();
  let object = |v: Option<Value>, field: &str| -> Result<Map<String, Value>, ArgError> {
    match v {
      None | Some(Value::Null) => Ok(Map::new()),
      Some(Value::Object(m)) => Ok(m),
      Some(other) => Err(ArgError::Type {
        name: format!("context.request.{field}"),
        expected: "an object".into(),
        received: ValueKind::of_json(&other).describe(None),
      }),
    }
  };
  let mut headers = Map::new();
  for (name, value) in object(req.headers, "headers")? {
    let name = name.to_ascii_lowercase();
    // Two spellings of one header are one header, as Node joins them.
    let merged = match (headers.remove(&name), value) {
      (Some(Value::String(a)), Value::String(b)) => Value::String(format!("{a}, {b}")),
      (_, v) => v,
    };
    headers.insert(name, merged);
  }
  let request = json!({
    "method": req.method.map(|m| m.to_ascii_uppercase()).filter(|m| !m.is_empty()).unwrap_or_else(|| "GET".into()),
    "url": req.url.unwrap_or_default(),
    "path": req.path.unwrap_or_default(),
    "query": object(req.query, "query")?,
    "params": object(req.params, "params")?,
    "headers": headers,
    "cookies": object(req.cookies, "cookies")?,
    "body": req.body.unwrap_or(Value::Null),
    "ip": req.ip.unwrap_or_default(),
  });
  Ok(request.to_string())
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn an_absent_request_has_every_field_with_its_default() {
    let v: Value = serde_json::from_str(&normalize(None).unwrap()).unwrap();
    assert_eq!(
      v,
      json!({"method":"GET","url":"","path":"","query":{},"params":{},"headers":{},"cookies":{},"body":null,"ip":""})
    );
  }

  #[test]
  fn header_names_are_lower_cased_and_methods_upper_cased() {
    let req = ScriptRequest {
      method: Some("post".into()),
      headers: Some(json!({"X-Token": "a", "x-token": "b", "Accept": "text/html"})),
      ..Default::default()
    };
    let v: Value = serde_json::from_str(&normalize(Some(req)).unwrap()).unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(
      v["headers"],
      json!({"x-token": "a, b", "accept": "text/html"})
    );
  }

  #[test]
  fn query_that_is_not_an_object_is_refused_with_the_field_named() {
    let req = ScriptRequest {
      query: Some(json!("token=1")),
      ..Default::default()
    };
    match normalize(Some(req)) {
      Err(ArgError::Type { name, .. }) => assert_eq!(name, "context.request.query"),
      other => panic!("{other:?}"),
    }
  }
}

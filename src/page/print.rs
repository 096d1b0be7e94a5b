//! How template values print: as a script author reads them in JavaScript, not as minijinja's
//! Python heritage would print them (`True`, `None`, `1.0`, `{'a': 1}`).
//!
//! - `true` / `false`; `null` and undefined print nothing;
//! - numbers as JavaScript's `String(n)`: `1.5`, `2`, `1e+21`, `1e-7`, `-0` as `0`;
//! - strings as they are;
//! - arrays and objects as `JSON.stringify` writes them (keys in the order the data had them,
//!   `null` for what JSON cannot hold inside an array, left out inside an object).
//!
//! The rules hold for `{{ }}` output and inside the filters that turn values into text: `join`,
//! `string`, `safe`, `escape` (`e`). Output is HTML-escaped with `&`, `<`, `>`, `"` and `'`
//! replaced, nothing else: a URL prints as itself.

use std::fmt::{self, Write};

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State};

/// Makes `env` print values by the rules above.
pub fn install(env: &mut Environment) {
  env.set_formatter(format);
  env.add_filter("join", join);
  env.add_filter("string", string);
  env.add_filter("safe", safe);
  env.add_filter("escape", escape);
  env.add_filter("e", escape);
}

/// The `{{ }}` formatter: safe strings as they are, everything else as text, escaped unless an
/// `{% autoescape false %}` block turned escaping off.
fn format(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
  if value.is_safe() {
    return Ok(out.write_str(value.as_str().unwrap_or_default())?);
  }
  // The most printed value in a loop; its digits need no escaping.
  if let (true, Some(n)) = (value.is_integer(), value.as_i64()) {
    return Ok(write!(out, "{n}")?);
  }
  if matches!(state.auto_escape(), AutoEscape::None) {
    write_text(out, value)?;
  } else {
    write_text(&mut Html(out), value)?;
  }
  Ok(())
}

/// The text of a value, by the rules of this module.
/// The text stops at the limit of the render under way (`minijinja::text_limit`), which then
/// fails: a value that shares itself can have text exponentially longer than the work it took.
pub fn text(value: &Value) -> String {
  let mut out = minijinja::LimitedText::new(minijinja::text_limit().unwrap_or(usize::MAX));
  // Past the limit the writer refuses the rest and notes it: the render fails afterwards.
  let _ = write_text(&mut out, value);
  out.into_string()
}

/// `s` with `&`, `<`, `>`, `"` and `'` escaped for HTML text and attribute values.
pub fn escape_html(s: &str) -> String {
  let mut escaped = String::with_capacity(s.len());
  Html(&mut escaped)
    .write_str(s)
    .expect("writing to a String cannot fail");
  escaped
}

fn write_text(w: &mut dyn Write, value: &Value) -> fmt::Result {
  match value.kind() {
    ValueKind::Undefined | ValueKind::None => Ok(()),
    ValueKind::Bool => w.write_str(if value.is_true() { "true" } else { "false" }),
    ValueKind::Number => write_number(w, value),
    ValueKind::String => w.write_str(value.as_str().unwrap_or_default()),
    ValueKind::Bytes => w.write_str(&String::from_utf8_lossy(
      value.as_bytes().unwrap_or_default(),
    )),
    ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => write_json(w, value),
    // Macros, functions, `loop` and the like: minijinja's own description of them.
    _ => write!(w, "{value}"),
  }
}

/// Whether `JSON.stringify` has a text for the value (it has none for undefined and functions).
fn has_json(value: &Value) -> bool {
  !matches!(
    value.kind(),
    ValueKind::Undefined | ValueKind::Plain | ValueKind::Invalid
  )
}

fn write_json(w: &mut dyn Write, value: &Value) -> fmt::Result {
  match value.kind() {
    ValueKind::Bool => write_text(w, value),
    // JSON has no NaN or Infinity: `JSON.stringify` writes null for them.
    ValueKind::Number => match f64::try_from(value.clone()) {
      Ok(n) if !n.is_finite() => w.write_str("null"),
      _ => write_number(w, value),
    },
    ValueKind::String | ValueKind::Bytes => write_json_string(w, &text(value)),
    ValueKind::Map => {
      let Ok(keys) = value.try_iter() else {
        return w.write_str("{}");
      };
      w.write_char('{')?;
      let mut first = true;
      for key in keys {
        let item = value.get_item(&key).unwrap_or_default();
        if !has_json(&item) {
          continue;
        }
        if !first {
          w.write_char(',')?;
        }
        first = false;
        write_json_string(w, &text(&key))?;
        w.write_char(':')?;
        write_json(w, &item)?;
      }
      w.write_char('}')
    }
    ValueKind::Seq | ValueKind::Iterable => {
      let Ok(items) = value.try_iter() else {
        return w.write_str("[]");
      };
      w.write_char('[')?;
      for (i, item) in items.enumerate() {
        if i > 0 {
          w.write_char(',')?;
        }
        write_json(w, &item)?;
      }
      w.write_char(']')
    }
    // None, undefined, and what JSON cannot hold (macros, functions).
    _ => w.write_str("null"),
  }
}

/// A JSON string as `JSON.stringify` writes it: `"` and `\` escaped, control characters as
/// `\n`-style or `\u00XX` escapes, everything else as it is.
fn write_json_string(w: &mut dyn Write, s: &str) -> fmt::Result {
  w.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?)
}

/// Integers below 10²¹ print as they are; the rest as JavaScript prints a double.
fn write_number(w: &mut dyn Write, value: &Value) -> fmt::Result {
  if value.is_integer() {
    if let Ok(n) = i128::try_from(value.clone()) {
      if n.unsigned_abs() < 10u128.pow(21) {
        return write!(w, "{n}");
      }
    }
  }
  match f64::try_from(value.clone()) {
    Ok(n) => w.write_str(&js_number(n)),
    Err(_) => write!(w, "{value}"),
  }
}

/// ECMAScript's Number::toString(x) for radix 10: the shortest digits that read back as `x`,
/// written plainly from 10⁻⁶ up to 10²¹ and in exponent form outside that range.
pub fn js_number(x: f64) -> String {
  if x.is_nan() {
    return "NaN".into();
  }
  if x.is_infinite() {
    return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
  }
  if x == 0.0 {
    return "0".into();
  }
  // Rust's `{:e}` gives the shortest round-tripping digits, as `d.ddde±n`.
  let scientific = format!("{:e}", x.abs());
  let (mantissa, exponent) = scientific
    .split_once('e')
    .expect("`{:e}` always has an exponent");
  let digits = mantissa.replace('.', "");
  let k = digits.len() as i32;
  let n = exponent.parse::<i32>().expect("the exponent is an integer") + 1;
  let sign = if x < 0.0 { "-" } else { "" };
  let body = if k <= n && n <= 21 {
    format!("{digits}{}", "0".repeat((n - k) as usize))
  } else if 0 < n && n <= 21 {
    format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
  } else if -6 < n && n <= 0 {
    format!("0.{}{digits}", "0".repeat((-n) as usize))
  } else {
    let e = n - 1;
    let fraction = if k > 1 {
      format!(".{}", &digits[1..])
    } else {
      String::new()
    };
    format!(
      "{}{fraction}e{}{}",
      &digits[..1],
      if e >= 0 { "+" } else { "-" },
      e.abs()
    )
  };
  format!("{sign}{body}")
}

/// A writer that HTML-escapes what goes through it.
struct Html<'a, W: Write + ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for Html<'_, W> {
  fn write_str(&mut self, s: &str) -> fmt::Result {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
      let entity = match b {
        b'&' => "&amp;",
        b'<' => "&lt;",
        b'>' => "&gt;",
        b'"' => "&quot;",
        b'\'' => "&#39;",
        _ => continue,
      };
      self.0.write_str(&s[start..i])?;
      self.0.write_str(entity)?;
      start = i + 1;
    }
    self.0.write_str(&s[start..])
  }
}

/// Fuel for making `bytes` of text on the template's behalf: as minijinja charges for data, one
/// unit per 64 bytes, and one for the item. Charged before the text grows, so that a join
/// cannot allocate past what the render may still pay for.
fn charge(state: &State, bytes: usize) -> Result<(), Error> {
  state.consume_fuel(1 + bytes as u64 / 64)
}

/// `join(d='', attribute=none)`: the items' texts between copies of `d`. Safe when `d` or an
/// item is safe (the other parts escaped then), as minijinja's own `join` is.
fn join(
  state: &State,
  value: &Value,
  joiner: Option<Value>,
  attribute: Option<Value>,
  kwargs: Kwargs,
) -> Result<Value, Error> {
  let joiner = match joiner {
    Some(j) => Some(j),
    None => kwargs.get::<Option<Value>>("d")?,
  };
  let attribute = match attribute {
    Some(a) => Some(a),
    None => kwargs.get::<Option<Value>>("attribute")?,
  };
  kwargs.assert_all_used()?;
  if value.is_undefined() || value.is_none() {
    return Ok(Value::from(""));
  }
  let items = value.try_iter().map_err(|e| {
    Error::new(
      ErrorKind::InvalidOperation,
      format!("cannot join value of type {}", value.kind()),
    )
    .with_source(e)
  })?;
  let mut parts = Vec::new();
  for item in items {
    let item = match &attribute {
      Some(path) => attribute_of(&item, path)?,
      None => item,
    };
    charge(state, 0)?;
    parts.push(item);
  }
  let joiner = joiner.unwrap_or_else(|| Value::from(""));
  let escaping = !matches!(state.auto_escape(), AutoEscape::None);
  let markup = escaping && (joiner.is_safe() || parts.iter().any(Value::is_safe));
  let piece = |v: &Value| {
    if markup && !v.is_safe() {
      escape_html(&text(v))
    } else {
      text(v)
    }
  };
  let joiner = piece(&joiner);
  let mut joined = String::new();
  for (i, part) in parts.iter().enumerate() {
    let part = piece(part);
    let sep = if i > 0 { joiner.as_str() } else { "" };
    charge(state, sep.len() + part.len())?;
    joined.push_str(sep);
    joined.push_str(&part);
  }
  Ok(if markup {
    Value::from_safe_string(joined)
  } else {
    Value::from(joined)
  })
}

/// An item's attribute for `join(attribute=…)`: a dotted path, with numbers as indexes.
fn attribute_of(item: &Value, path: &Value) -> Result<Value, Error> {
  if let Some(index) = path.as_usize() {
    return item.get_item_by_index(index);
  }
  let mut value = item.clone();
  for part in path.as_str().unwrap_or_default().split('.') {
    value = match part.parse::<usize>() {
      Ok(index) => value.get_item_by_index(index)?,
      Err(_) => value.get_attr(part)?,
    };
  }
  Ok(value)
}

/// `string`: the value's text; strings (safe ones too) stay as they are.
fn string(state: &State, value: &Value) -> Result<Value, Error> {
  if value.kind() == ValueKind::String {
    return Ok(value.clone());
  }
  let text = text(value);
  charge(state, text.len())?;
  Ok(Value::from(text))
}

/// `safe`: the value's text, marked safe.
fn safe(state: &State, value: &Value) -> Result<Value, Error> {
  let text = text(value);
  charge(state, text.len())?;
  Ok(Value::from_safe_string(text))
}

/// `escape` / `e`: the value's text escaped and marked safe; a safe value stays as it is.
fn escape(state: &State, value: &Value) -> Result<Value, Error> {
  if value.is_safe() {
    return Ok(value.clone());
  }
  let text = text(value);
  charge(state, text.len())?;
  Ok(Value::from_safe_string(escape_html(&text)))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn numbers_print_as_javascript_prints_them() {
    let rows = [
      (1.5, "1.5"),
      (2.0, "2"),
      (-0.0, "0"),
      (0.1 + 0.2, "0.30000000000000004"),
      (1e21, "1e+21"),
      (1e20, "100000000000000000000"),
      (123456789012345680000.0, "123456789012345680000"),
      (1.5e300, "1.5e+300"),
      (0.000001, "0.000001"),
      (1e-7, "1e-7"),
      (-2.5e-8, "-2.5e-8"),
      (-1234.5678, "-1234.5678"),
      (5e-324, "5e-324"),
      (f64::MAX, "1.7976931348623157e+308"),
      (f64::INFINITY, "Infinity"),
      (f64::NEG_INFINITY, "-Infinity"),
      (f64::NAN, "NaN"),
    ];
    for (x, expected) in rows {
      assert_eq!(js_number(x), expected, "{x:e}");
    }
  }

  #[test]
  fn escaping_replaces_five_characters_and_leaves_slashes() {
    assert_eq!(
      escape_html(r#"<a href="/x?a=1&b='2'">"#),
      "&lt;a href=&quot;/x?a=1&amp;b=&#39;2&#39;&quot;&gt;"
    );
    assert_eq!(
      escape_html("https://example.com/é"),
      "https://example.com/é"
    );
  }
}

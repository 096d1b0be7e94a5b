//! The JavaScript-facing argument types, documented where they are defined (the docs become the
//! JSDoc in `index.d.ts`), and their validation into the internal configs the rest of the crate
//! uses. Arguments arrive as JSON (see `lib.rs`), so every check here is a pure function.

use std::ops::RangeInclusive;
use std::time::Duration;

use napi_derive::napi;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ArgError, ValueKind};

/// Limits for one execution, and what it may use beyond the script API. Every field is optional.
#[napi(object, object_from_js = false, object_to_js = false)]
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunOptions {
  /// CPU time the script may spend running JavaScript; time spent waiting on HTTP does not count.
  /// @default 1000
  #[serde(default, deserialize_with = "number")]
  pub cpu_time_ms: Option<f64>,
  /// Wall-clock time for the whole execution, HTTP waits included.
  /// @default 60000
  #[serde(default, deserialize_with = "number")]
  pub wall_time_ms: Option<f64>,
  /// Memory the script's JavaScript heap may use, in bytes.
  /// @default 33554432 (32 MiB)
  #[serde(default, deserialize_with = "number")]
  pub memory_limit_bytes: Option<f64>,
  /// Native stack the script may use, in bytes; deeper recursion throws a `RangeError` inside the script.
  /// @default 262144 (256 KiB)
  #[serde(default, deserialize_with = "number")]
  pub max_stack_bytes: Option<f64>,
  /// Size of the result (variables, session, body, headers, cookies and logs), in bytes. Checked as
  /// the script runs, so a script cannot pile up data outside its memory limit either.
  /// @default 4194304 (4 MiB)
  #[serde(default, deserialize_with = "number")]
  pub max_output_bytes: Option<f64>,
  /// Shared modules the script may `import` by name, made by `createModules()`.
  /// @default null (a script that imports anything fails with `ERR_SCRIPT_MODULE`)
  #[napi(ts_type = "Modules | null")]
  // Read from the options object itself (not JSON); declared for the types and accepted here.
  #[allow(dead_code)]
  #[serde(default)]
  pub modules: Option<serde::de::IgnoredAny>,
  /// The site's own functions, installed as script globals of the same names: a call returns the
  /// function's (awaited) value, synchronously from the script's point of view. Arguments and
  /// values cross as JSON. Names must be identifiers that shadow neither the script API nor an
  /// ECMAScript global. A function's error reaches the script as an `Error` whose message is
  /// shown only when the error has `expose === true`.
  /// @default null (none)
  #[napi(ts_type = "Record<string, (...args: any[]) => unknown> | null")]
  // `lib/host.js` takes them out of the options and gives the addon a dispatcher instead.
  #[allow(dead_code)]
  #[serde(default)]
  pub functions: Option<serde::de::IgnoredAny>,
  /// How many host function calls one execution may make.
  /// @default 50
  #[serde(default, deserialize_with = "number")]
  pub max_host_calls: Option<f64>,
  /// How long one host function call may take, in milliseconds; the script gets an `Error` when
  /// it does not answer in time. Waiting is not CPU time; it counts against `wallTimeMs`.
  /// @default 5000
  #[serde(default, deserialize_with = "number")]
  pub host_call_timeout_ms: Option<f64>,
}

/// Process-wide settings of the executor, for `configure()`. Every field is optional; a field left
/// out keeps its current value.
#[napi(object, object_to_js = false)]
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutorOptions {
  /// How many executions run JavaScript at the same time. An execution waiting on HTTP does not
  /// count: it gives its slot to the next one while it waits.
  /// @default the number of CPU cores
  #[serde(default, deserialize_with = "number")]
  pub max_concurrency: Option<f64>,
  /// How many executions may wait for a slot; past that `runBackendScript` rejects with `ERR_SCRIPT_BUSY`.
  /// @default 1024
  #[serde(default, deserialize_with = "number")]
  pub max_queue: Option<f64>,
  /// How many executions may be started and unfinished at once (running, or waiting on HTTP).
  /// Each holds a thread and its heap while it waits; more queue.
  /// @default 1024
  #[serde(default, deserialize_with = "number")]
  pub max_in_flight: Option<f64>,
  /// How many threads may still be finishing scripts that were already answered with
  /// `ERR_SCRIPT_TIMEOUT` because they did not stop in time (see `executorStats().abandoned`).
  /// Each holds its heap and runs only on idle CPU; at this many (with 0: while there is any), new
  /// executions are refused with `ERR_SCRIPT_BUSY` until one of them ends, and
  /// `executorStats().refusing` says so.
  /// @default 8
  #[serde(default, deserialize_with = "number")]
  pub max_abandoned: Option<f64>,
}

/// What the script sees of the visitor's request as the global `request` (deep-frozen).
#[napi(object, object_to_js = false)]
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptRequest {
  /// Upper-cased. @default 'GET'
  pub method: Option<String>,
  /// @default ''
  pub url: Option<String>,
  /// @default ''
  pub path: Option<String>,
  /// Parsed query string. @default {}
  #[napi(ts_type = "Record<string, unknown>")]
  pub query: Option<Value>,
  /// Route parameters. @default {}
  #[napi(ts_type = "Record<string, unknown>")]
  pub params: Option<Value>,
  /// Header names are lower-cased. @default {}
  #[napi(ts_type = "Record<string, string | string[]>")]
  pub headers: Option<Value>,
  /// @default {}
  #[napi(ts_type = "Record<string, string>")]
  pub cookies: Option<Value>,
  /// The parsed body, when a body parser ran. @default null
  #[napi(ts_type = "unknown")]
  pub body: Option<Value>,
  /// @default ''
  pub ip: Option<String>,
}

/// Everything an execution is given. Every part is optional.
#[napi(object, object_to_js = false)]
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptContext {
  pub request: Option<ScriptRequest>,
  /// The visitor's session: `session.get/set/delete` read and change a copy of it.
  #[napi(ts_type = "Record<string, unknown>")]
  pub session: Option<Map<String, Value>>,
  /// Template variables known before the script runs; `getVariable` sees them.
  #[napi(ts_type = "Record<string, unknown>")]
  pub variables: Option<Map<String, Value>>,
}

/// How scripts reach the network: every request goes through this authenticated egress proxy,
/// within the per-execution limits below. Without it, `http` is `undefined` in the script.
#[napi(object, object_to_js = false)]
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyConfig {
  /// The proxy, `http://host:port` or `https://host:port`; credentials may be given as userinfo.
  pub url: String,
  /// Basic credentials for the proxy (or userinfo in `url`).
  pub username: Option<String>,
  pub password: Option<String>,
  /// Extra headers for the proxy alone (sent on CONNECT and on plain-HTTP requests to it).
  #[napi(ts_type = "Record<string, string>")]
  pub headers: Option<Map<String, Value>>,
  /// Requests per execution, redirect hops and refused requests included.
  /// @default 5
  #[serde(default, deserialize_with = "number")]
  pub max_requests: Option<f64>,
  /// Time for each request as a whole: connect, headers and body.
  /// @default 10000
  #[serde(default, deserialize_with = "number")]
  pub timeout_ms: Option<f64>,
  /// Largest response body, after decompression; a larger one fails the call.
  /// @default 1048576
  #[serde(default, deserialize_with = "number")]
  pub max_response_bytes: Option<f64>,
  /// Redirects followed per call; every hop is checked by the policy again.
  /// @default 5
  #[serde(default, deserialize_with = "number")]
  pub max_redirects: Option<f64>,
  /// CIDR ranges to lift from the built-in block (e.g. `127.0.0.0/8` for a local test server).
  pub allowed_ranges: Option<Vec<String>>,
  /// CIDR ranges to block in addition to the built-in ones; they win over `allowedRanges`.
  pub denied_ranges: Option<Vec<String>>,
  /// Host names to block: `api.example.com`, or `*.example.com` for the name and every subdomain.
  pub denied_hosts: Option<Vec<String>>,
  /// Extra PEM root certificates for upstream TLS (a private CA, tests).
  pub ca: Option<String>,
}

/// The defaults of [`RunOptions`].
pub const DEFAULT_CPU_TIME_MS: u64 = 1000;
pub const DEFAULT_WALL_TIME_MS: u64 = 60_000;
pub const DEFAULT_MEMORY_LIMIT_BYTES: u64 = 32 << 20;
pub const DEFAULT_MAX_STACK_BYTES: u64 = 256 << 10;
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 4 << 20;
pub const DEFAULT_MAX_HOST_CALLS: u64 = 50;
pub const DEFAULT_HOST_CALL_TIMEOUT_MS: u64 = 5000;

/// The defaults of [`ExecutorOptions`] (`maxConcurrency`'s is the number of CPU cores).
pub const DEFAULT_MAX_QUEUE: u64 = 1024;
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 1024;
pub const DEFAULT_MAX_ABANDONED: u64 = 8;

/// The defaults of [`ProxyConfig`].
pub const DEFAULT_MAX_REQUESTS: u64 = 5;
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 1 << 20;
pub const DEFAULT_MAX_REDIRECTS: u64 = 5;

/// Limits of one execution, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
  pub cpu_time: Duration,
  pub wall_time: Duration,
  pub memory_bytes: usize,
  pub stack_bytes: usize,
  pub output_bytes: usize,
  pub host: crate::api::host::HostLimits,
}

impl Default for Limits {
  fn default() -> Self {
    RunOptions::default()
      .into_limits()
      .expect("the defaults are valid")
  }
}

/// The largest `maxStackBytes`: executor threads are created with room for this much script stack.
pub const MAX_STACK_BYTES: usize = 8 << 20;

impl RunOptions {
  pub fn into_limits(self) -> Result<Limits, ArgError> {
    let bytes = |v, name, range, default| integer(v, name, range, default).map(|v| v as usize);
    Ok(Limits {
      cpu_time: millis(
        self.cpu_time_ms,
        "options.cpuTimeMs",
        1..=3_600_000,
        DEFAULT_CPU_TIME_MS,
      )?,
      wall_time: millis(
        self.wall_time_ms,
        "options.wallTimeMs",
        1..=3_600_000,
        DEFAULT_WALL_TIME_MS,
      )?,
      memory_bytes: bytes(
        self.memory_limit_bytes,
        "options.memoryLimitBytes",
        256 << 10..=4 << 30,
        DEFAULT_MEMORY_LIMIT_BYTES,
      )?,
      stack_bytes: bytes(
        self.max_stack_bytes,
        "options.maxStackBytes",
        16 << 10..=MAX_STACK_BYTES as u64,
        DEFAULT_MAX_STACK_BYTES,
      )?,
      output_bytes: bytes(
        self.max_output_bytes,
        "options.maxOutputBytes",
        1..=1 << 30,
        DEFAULT_MAX_OUTPUT_BYTES,
      )?,
      host: crate::api::host::HostLimits {
        max_calls: integer(
          self.max_host_calls,
          "options.maxHostCalls",
          0..=100_000,
          DEFAULT_MAX_HOST_CALLS,
        )? as u32,
        call_timeout: millis(
          self.host_call_timeout_ms,
          "options.hostCallTimeoutMs",
          1..=3_600_000,
          DEFAULT_HOST_CALL_TIMEOUT_MS,
        )?,
      },
    })
  }
}

/// Executor settings, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolConfig {
  pub max_concurrency: usize,
  pub max_queue: usize,
  pub max_in_flight: usize,
  pub max_abandoned: usize,
}

impl Default for PoolConfig {
  fn default() -> Self {
    PoolConfig {
      max_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
      max_queue: DEFAULT_MAX_QUEUE as usize,
      max_in_flight: DEFAULT_MAX_IN_FLIGHT as usize,
      max_abandoned: DEFAULT_MAX_ABANDONED as usize,
    }
  }
}

impl ExecutorOptions {
  /// Applies the given fields over `current`.
  pub fn apply_to(self, current: PoolConfig) -> Result<PoolConfig, ArgError> {
    let field =
      |v, name, range, cur: usize| integer(v, name, range, cur as u64).map(|v| v as usize);
    let cfg = PoolConfig {
      max_concurrency: field(
        self.max_concurrency,
        "options.maxConcurrency",
        1..=1024,
        current.max_concurrency,
      )?,
      max_queue: field(
        self.max_queue,
        "options.maxQueue",
        0..=1_000_000,
        current.max_queue,
      )?,
      max_in_flight: field(
        self.max_in_flight,
        "options.maxInFlight",
        1..=65_536,
        current.max_in_flight,
      )?,
      max_abandoned: field(
        self.max_abandoned,
        "options.maxAbandoned",
        0..=1024,
        current.max_abandoned,
      )?,
    };
    if cfg.max_in_flight < cfg.max_concurrency {
      return Err(ArgError::Range {
        name: "options.maxInFlight".into(),
        reason: format!(
          "must be at least maxConcurrency ({}). Received {}",
          cfg.max_concurrency, cfg.max_in_flight
        ),
      });
    }
    Ok(cfg)
  }
}

/// The one reader of numeric options: absent means `default`; anything but an integer in `range`
/// is a `RangeError` naming the option. (`null`, NaN and ±Infinity never get here: [`number`]
/// refuses them while the option is read.)
pub fn integer(
  value: Option<f64>,
  name: &str,
  range: RangeInclusive<u64>,
  default: u64,
) -> Result<u64, ArgError> {
  let Some(v) = value else { return Ok(default) };
  let (min, max) = (*range.start(), *range.end());
  if v.fract() != 0.0 || !v.is_finite() || v < min as f64 || v > max as f64 {
    return Err(ArgError::Range {
      name: name.into(),
      reason: format!("must be an integer from {min} to {max}. Received {v}"),
    });
  }
  Ok(v as u64)
}

/// A duration option in milliseconds, read by [`integer`].
pub fn millis(
  value: Option<f64>,
  name: &str,
  range: RangeInclusive<u64>,
  default_ms: u64,
) -> Result<Duration, ArgError> {
  integer(value, name, range, default_ms).map(Duration::from_millis)
}

/// Reads an argument that arrived as JSON into its typed form, naming the exact field at fault.
/// The text is checked at the boundary first (`crate::json`): lone surrogates become U+FFFD, and
/// nesting deeper than `json::MAX_DEPTH` is refused.
pub fn from_json<T: DeserializeOwned>(name: &str, json: &str) -> Result<T, ArgError> {
  let json = crate::json::well_formed(json).map_err(|issue| ArgError::Value {
    name: name.into(),
    reason: issue.to_string(),
  })?;
  let de = &mut serde_json::Deserializer::from_str(&json);
  de.disable_recursion_limit();
  serde_path_to_error::deserialize(de).map_err(|e| {
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    // serde_json appends the JSON position, which means nothing to the caller.
    let inner = inner
      .split(" at line ")
      .next()
      .unwrap_or_default()
      .to_string();
    // A key can be as long as the caller likes: errors show a bounded part of it.
    let field = |path: &str| {
      if path == "." || path.is_empty() {
        name.to_string()
      } else {
        cut(&format!("{name}.{path}"), 120)
      }
    };
    if let Some(rest) = inner.strip_prefix("unknown field ") {
      // The path ends with the unknown key itself: name the object that holds it.
      let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
      let (key, expected) = rest.split_once(", expected ").unwrap_or((rest, "none"));
      return ArgError::Value {
        name: field(parent),
        reason: format!(
          "has an unknown property {}; expected {expected}",
          cut(&key.replace('`', "\""), 64)
        ),
      };
    }
    // serde reads a struct from an array too, and then complains about the array's length.
    if inner.starts_with("invalid length ") && inner.contains(", expected struct ") {
      return ArgError::Type {
        name: field(&path),
        expected: "of type object".into(),
        received: "an array".into(),
      };
    }
    if let Some(rest) = inner.strip_prefix("invalid type: ") {
      let (received, expected) = rest
        .split_once(", expected ")
        .unwrap_or((rest, "another type"));
      let (expected, (kind, received)) = (js_expected(expected), js_received(received));
      if expected == "of type number" && kind == ValueKind::Null {
        return ArgError::Range {
          name: field(&path),
          reason:
            "must be a finite number. Received null, NaN or Infinity (they all arrive as null)"
              .into(),
        };
      }
      return ArgError::Type {
        name: field(&path),
        expected,
        received,
      };
    }
    ArgError::Value {
      name: field(&path),
      reason: format!("is invalid: {inner}"),
    }
  })
}

/// The deserializer of every number option (`#[serde(default, deserialize_with = "number")]`):
/// absent means its default, but `null` is refused — NaN and ±Infinity become `null` on their way
/// in, and must not silently mean "the default".
pub fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
  f64::deserialize(d).map(Some)
}

/// `text`, or its first `max` characters and "...".
fn cut(text: &str, max: usize) -> String {
  match text.char_indices().nth(max) {
    Some((at, _)) => format!("{}...", &text[..at]),
    None => text.to_string(),
  }
}

/// serde's name for an expected type, in JavaScript's words.
fn js_expected(serde: &str) -> String {
  match serde {
    "f64" | "f32" | "u8" | "u16" | "u32" | "u64" | "i32" | "i64" => "of type number".into(),
    "a string" => "of type string".into(),
    "a boolean" => "of type boolean".into(),
    "a map" | "a sequence of key-value pairs" => "of type object".into(),
    "a sequence" => "an array".into(),
    s if s.starts_with("struct ") => "of type object".into(),
    s => s.to_string(),
  }
}

/// serde's description of a received value ("integer `5`", "string \"x\"", "sequence"), in the
/// words Node's errors use.
fn js_received(serde: &str) -> (ValueKind, String) {
  let (kind, preview) = match serde.split_once(' ') {
    _ if serde == "sequence" => (ValueKind::Array, None),
    _ if serde == "map" => (ValueKind::Object, None),
    _ if serde == "null" || serde == "unit value" => (ValueKind::Null, None),
    Some(("string", v)) => (ValueKind::String, Some(v.to_string())),
    Some(("integer" | "floating", v)) => (
      ValueKind::Number,
      Some(v.trim_start_matches("point ").trim_matches('`').to_string()),
    ),
    Some(("boolean", v)) => (ValueKind::Boolean, Some(v.trim_matches('`').to_string())),
    _ => return (ValueKind::Object, serde.to_string()),
  };
  (kind, kind.describe(preview.as_deref()))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn defaults_are_the_documented_ones() {
    let l = RunOptions::default().into_limits().unwrap();
    assert_eq!(l.cpu_time, Duration::from_millis(1000));
    assert_eq!(l.wall_time, Duration::from_millis(60_000));
    assert_eq!(l.memory_bytes, 32 * 1024 * 1024);
    assert_eq!(l.stack_bytes, 256 * 1024);
    assert_eq!(l.output_bytes, 4 * 1024 * 1024);
  }

  /// What the source says of its number options (fields of type `Option<f64>`): `(field,
  /// default)` for those documented with a numeric `@default`, the others, and those not read by
  /// [`number`].
  fn number_options(source: &str) -> (Vec<(String, u64)>, Vec<String>, Vec<String>) {
    let (mut numeric, mut other, mut unread) = (Vec::new(), Vec::new(), Vec::new());
    let (mut default, mut read): (Option<String>, bool) = (None, false);
    for line in source.lines().map(str::trim) {
      if let Some(at) = line
        .strip_prefix("///")
        .and_then(|doc| doc.split_once("@default "))
      {
        default = Some(at.1.to_string());
      } else if line == "#[serde(default, deserialize_with = \"number\")]" {
        read = true;
      } else if let Some(field) = line
        .strip_prefix("pub ")
        .and_then(|l| l.strip_suffix(": Option<f64>,"))
      {
        let digits: String = default
          .take()
          .unwrap_or_default()
          .chars()
          .take_while(char::is_ascii_digit)
          .collect();
        match digits.parse() {
          Ok(n) => numeric.push((field.to_string(), n)),
          Err(_) => other.push(field.to_string()),
        }
        if !std::mem::take(&mut read) {
          unread.push(field.to_string());
        }
      } else if !line.starts_with("#[") && !line.starts_with("//") {
        (default, read) = (None, false);
      }
    }
    (numeric, other, unread)
  }

  #[test]
  fn every_documented_default_is_the_constant_in_force_and_every_number_is_read_alike() {
    use crate::proxy::options as proxy;
    let constants: &[(&str, u64)] = &[
      ("cpu_time_ms", DEFAULT_CPU_TIME_MS),
      ("wall_time_ms", DEFAULT_WALL_TIME_MS),
      ("memory_limit_bytes", DEFAULT_MEMORY_LIMIT_BYTES),
      ("max_stack_bytes", DEFAULT_MAX_STACK_BYTES),
      ("max_output_bytes", DEFAULT_MAX_OUTPUT_BYTES),
      ("max_host_calls", DEFAULT_MAX_HOST_CALLS),
      ("host_call_timeout_ms", DEFAULT_HOST_CALL_TIMEOUT_MS),
      ("max_queue", DEFAULT_MAX_QUEUE),
      ("max_in_flight", DEFAULT_MAX_IN_FLIGHT),
      ("max_abandoned", DEFAULT_MAX_ABANDONED),
      ("max_requests", DEFAULT_MAX_REQUESTS),
      ("timeout_ms", DEFAULT_TIMEOUT_MS),
      ("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES),
      ("max_redirects", DEFAULT_MAX_REDIRECTS),
      ("resolve_timeout_ms", proxy::DEFAULT_RESOLVE_TIMEOUT_MS),
      ("connect_timeout_ms", proxy::DEFAULT_CONNECT_TIMEOUT_MS),
      ("idle_timeout_ms", proxy::DEFAULT_IDLE_TIMEOUT_MS),
      ("shutdown_timeout_ms", proxy::DEFAULT_SHUTDOWN_TIMEOUT_MS),
      (
        "max_tunnels_per_client",
        proxy::DEFAULT_MAX_TUNNELS_PER_CLIENT,
      ),
      ("max_header_bytes", proxy::DEFAULT_MAX_HEADER_BYTES),
    ];
    let mut documented = Vec::new();
    for source in [include_str!("options.rs"), include_str!("proxy/options.rs")] {
      let (numeric, other, unread) = number_options(source);
      if source.contains("pub struct RunOptions") {
        assert_eq!(
          other,
          ["max_concurrency"],
          "number options document a numeric @default"
        );
      } else {
        // A credential's rate limits have no default: none is no limit.
        assert_eq!(
          other,
          ["max_requests_per_minute", "max_concurrent"],
          "number options document a numeric @default"
        );
      }
      // NaN and Infinity arrive as null, which only `number` refuses.
      assert_eq!(
        unread,
        Vec::<String>::new(),
        "every number option is read by `number`"
      );
      documented.extend(numeric);
    }
    let mut names: Vec<_> = documented.iter().map(|(f, _)| f.as_str()).collect();
    names.sort_unstable();
    let mut expected: Vec<_> = constants.iter().map(|(f, _)| *f).collect();
    expected.sort_unstable();
    assert_eq!(
      names, expected,
      "each number option has a DEFAULT_ constant"
    );
    for (field, value) in &documented {
      let constant = constants.iter().find(|(f, _)| f == field).unwrap().1;
      assert_eq!(
        *value, constant,
        "{field}: the docs say {value}, the code uses {constant}"
      );
    }
  }

  #[test]
  fn limits_must_be_positive_integers_in_range() {
    for (json, field) in [
      (r#"{"cpuTimeMs":-1}"#, "options.cpuTimeMs"),
      (r#"{"cpuTimeMs":0}"#, "options.cpuTimeMs"),
      (r#"{"wallTimeMs":1.5}"#, "options.wallTimeMs"),
      (r#"{"memoryLimitBytes":1}"#, "options.memoryLimitBytes"),
      (r#"{"maxStackBytes":1e12}"#, "options.maxStackBytes"),
    ] {
      let opts: RunOptions = from_json("options", json).unwrap();
      match opts.into_limits() {
        Err(ArgError::Range { name, .. }) => assert_eq!(name, field),
        other => panic!("{json}: {other:?}"),
      }
    }
  }

  #[test]
  fn unknown_and_mistyped_fields_name_the_field() {
    match from_json::<RunOptions>("options", r#"{"cpuTimeMS":5}"#) {
      Err(ArgError::Value { name, reason }) => {
        assert_eq!(name, "options");
        assert!(
          reason.contains("unknown property \"cpuTimeMS\""),
          "{reason}"
        );
        assert!(!reason.contains("line 1"), "{reason}");
      }
      other => panic!("{other:?}"),
    }
    match from_json::<ScriptContext>("context", r#"{"request":{"method":5}}"#) {
      Err(ArgError::Type { name, .. }) => assert_eq!(name, "context.request.method"),
      other => panic!("{other:?}"),
    }
  }

  #[test]
  fn the_context_crosses_with_its_lone_surrogates_mended_and_its_depth_bounded() {
    let context: ScriptContext =
      from_json("context", r#"{"session":{"nick":"Ada\ud83d"}}"#).unwrap();
    assert_eq!(context.session.unwrap()["nick"], "Ada\u{fffd}");
    let body = |n: usize| {
      format!(
        r#"{{"request":{{"body":{}1{}}}}}"#,
        "[".repeat(n),
        "]".repeat(n)
      )
    };
    assert!(from_json::<ScriptContext>("context", &body(150)).is_ok());
    assert!(from_json::<ScriptContext>("context", &body(500)).is_ok());
    match from_json::<ScriptContext>("context", &body(100_000)) {
      Err(ArgError::Value { name, reason }) => {
        assert_eq!(
          (name.as_str(), reason.as_str()),
          ("context", "is nested deeper than 512 levels")
        )
      }
      other => panic!("{other:?}"),
    }
  }

  #[test]
  fn errors_never_echo_a_long_key() {
    let long = "k".repeat(100_000);
    let error = from_json::<RunOptions>("options", &format!(r#"{{"{long}":1}}"#)).unwrap_err();
    assert!(
      error.to_string().len() < 300,
      "{}",
      &error.to_string()[..300]
    );
  }

  #[test]
  fn a_null_number_is_refused_rather_than_taken_for_the_default() {
    match from_json::<RunOptions>("options", r#"{"cpuTimeMs":null}"#) {
      Err(ArgError::Range { name, reason }) => {
        assert_eq!(name, "options.cpuTimeMs");
        assert!(reason.contains("NaN"), "{reason}");
      }
      other => panic!("{other:?}"),
    }
    let absent: RunOptions = from_json("options", "{}").unwrap();
    assert!(absent.cpu_time_ms.is_none());
  }

  #[test]
  fn type_errors_speak_javascript() {
    for (json, expected, received) in [
      (
        r#"{"cpuTimeMs":"5"}"#,
        "of type number",
        "type string (\"5\")",
      ),
      (
        r#"{"cpuTimeMs":true}"#,
        "of type number",
        "type boolean (true)",
      ),
      (r#"{"cpuTimeMs":[1]}"#, "of type number", "an array"),
    ] {
      match from_json::<RunOptions>("options", json) {
        Err(ArgError::Type {
          expected: e,
          received: r,
          ..
        }) => assert_eq!((e.as_str(), r.as_str()), (expected, received), "{json}"),
        other => panic!("{json}: {other:?}"),
      }
    }
    match from_json::<ScriptContext>("context", r#"{"request":[]}"#) {
      Err(ArgError::Type {
        expected, received, ..
      }) => assert_eq!(
        (expected.as_str(), received.as_str()),
        ("of type object", "an array")
      ),
      other => panic!("{other:?}"),
    }
    match from_json::<ScriptContext>("context", r#"{"session":5}"#) {
      Err(ArgError::Type {
        expected, received, ..
      }) => assert_eq!(
        (expected.as_str(), received.as_str()),
        ("of type object", "type number (5)")
      ),
      other => panic!("{other:?}"),
    }
  }

  #[test]
  fn executor_options_keep_unset_fields_and_check_their_relation() {
    let cur = PoolConfig {
      max_concurrency: 2,
      max_queue: 10,
      max_in_flight: 20,
      max_abandoned: 8,
    };
    let next = ExecutorOptions {
      max_queue: Some(0.0),
      ..Default::default()
    }
    .apply_to(cur)
    .unwrap();
    assert_eq!(
      next,
      PoolConfig {
        max_queue: 0,
        ..cur
      }
    );
    let bad = ExecutorOptions {
      max_in_flight: Some(1.0),
      ..Default::default()
    }
    .apply_to(cur);
    assert!(matches!(bad, Err(ArgError::Range { .. })));
  }
}

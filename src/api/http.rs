//! `http.get(url, headers?)`, `http.post(url, body, headers?)` and
//! `http.request(method, url, body?, headers?)`: installed only when the host gave a
//! `proxyConfig`. They look synchronous to the script; the thread waits without a slot (so
//! without CPU and without holding up other executions) while the I/O runtime does the request.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use reqwest::Method;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Object, Value};
use serde_json::{json, Map, Value as Json};

use super::{check_running, copy_in, copy_out, define, define_global, string_arg, Shared, Wait};
use crate::egress::{check_request_header, fetch, Egress, HttpRequest};

/// The most headers a script may send with one request; what servers accept (hyper answers more
/// than 100 in a response with an error).
pub const MAX_REQUEST_HEADERS: usize = 100;

pub fn install<'js>(ctx: &Ctx<'js>, state: &Shared, egress: Arc<Egress>) -> rquickjs::Result<()> {
  let http = Object::new(ctx.clone())?;
  let (s, e) = (state.clone(), egress.clone());
  define(
    ctx,
    &http,
    "get",
    move |ctx: Ctx<'js>, url: Opt<Value<'js>>, headers: Opt<Value<'js>>| {
      call(&ctx, &s, &e, Method::GET, url.0, None, headers.0)
    },
  )?;
  let (s, e) = (state.clone(), egress.clone());
  define(
    ctx,
    &http,
    "post",
    move |ctx: Ctx<'js>, url: Opt<Value<'js>>, body: Opt<Value<'js>>, headers: Opt<Value<'js>>| {
      call(&ctx, &s, &e, Method::POST, url.0, body.0, headers.0)
    },
  )?;
  let (s, e) = (state.clone(), egress);
  define(
    ctx,
    &http,
    "request",
    move |ctx: Ctx<'js>,
          method: Opt<Value<'js>>,
          url: Opt<Value<'js>>,
          body: Opt<Value<'js>>,
          headers: Opt<Value<'js>>| {
      let method = method
        .0
        .unwrap_or_else(|| Value::new_undefined(ctx.clone()));
      let method = string_arg(&ctx, &method, "http.request: the method")?.to_ascii_uppercase();
      let method = match method.as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        "HEAD" => Method::HEAD,
        "OPTIONS" => Method::OPTIONS,
        other => {
          return Err(Exception::throw_type(
            &ctx,
            &format!("http.request: {other:?} is not a supported method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)"),
          ))
        }
      };
      call(&ctx, &s, &e, method, url.0, body.0, headers.0)
    },
  )?;
  define_global(ctx, "http", http.into_value())
}

fn call<'js>(
  ctx: &Ctx<'js>,
  state: &Shared,
  egress: &Arc<Egress>,
  method: Method,
  url: Option<Value<'js>>,
  body: Option<Value<'js>>,
  headers: Option<Value<'js>>,
) -> rquickjs::Result<Value<'js>> {
  check_running(ctx, state)?;
  let what = format!("http.{}", method.as_str().to_ascii_lowercase());
  // A missing argument gets the same message as a mistyped one, rather than rquickjs's own.
  let url = url.unwrap_or_else(|| Value::new_undefined(ctx.clone()));
  let url = string_arg(ctx, &url, &format!("{what}: the URL"))?;
  let mut headers = header_arg(ctx, headers, &what)?;
  let body = match body.filter(|b| !b.is_undefined() && !b.is_null()) {
    None => None,
    Some(_) if method == Method::GET || method == Method::HEAD => {
      return Err(Exception::throw_type(
        ctx,
        &format!("{what}: a {method} request cannot have a body"),
      ));
    }
    Some(b) if b.is_string() => {
      Some(string_arg(ctx, &b, &format!("{what}: the body"))?.into_bytes())
    }
    Some(b) => {
      let json = copy_out(ctx, b, &format!("{what}: the body"))?;
      if !headers.iter().any(|(n, _)| n == "content-type") {
        headers.push(("content-type".into(), "application/json".into()));
      }
      Some(json.into_bytes())
    }
  };

  let (used, exec) = {
    let st = state.borrow();
    (
      st.http_requests,
      st.execution.clone().expect("an execution is running"),
    )
  };
  if used >= egress.max_requests {
    return Err(Exception::throw_message(
      ctx,
      &format!(
        "HTTP request limit reached: {} per script execution",
        egress.max_requests
      ),
    ));
  }
  // Redirects take from the same budget, counted by the task that follows them.
  let count = Arc::new(AtomicU32::new(used));
  let max = egress.max_requests;
  let counted = count.clone();
  let take = move || {
    counted
      .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
        (c < max).then_some(c + 1)
      })
      .is_ok()
  };
  let request = HttpRequest {
    method,
    url,
    headers,
    body,
  };
  let deadline = exec.wall_deadline();
  let recording = exec.clone();
  let request = fetch(egress.clone(), request, take, deadline, move |r| {
    recording.record_request(r)
  });
  let outcome = super::wait_in_script(ctx, state, &exec, Wait::Http, request, |_| {});
  state.borrow_mut().http_requests = count.load(Ordering::Acquire);
  let result = match outcome? {
    Ok(r) => {
      let headers: Map<String, Json> = r
        .headers
        .into_iter()
        .map(|(k, v)| (k, Json::String(v)))
        .collect();
      json!({ "status": r.status, "headers": headers, "body": r.body })
    }
    Err(failure) => json!({ "status": 0, "headers": {}, "body": "", "error": failure.to_string() }),
  };
  copy_in(ctx, &result.to_string())
}

/// The headers object a script passed: string values only, every name checked.
fn header_arg<'js>(
  ctx: &Ctx<'js>,
  headers: Option<Value<'js>>,
  what: &str,
) -> rquickjs::Result<Vec<(String, String)>> {
  let Some(headers) = headers.filter(|h| !h.is_undefined() && !h.is_null()) else {
    return Ok(Vec::new());
  };
  if !headers.is_object() || headers.is_array() || headers.is_function() {
    return Err(Exception::throw_type(
      ctx,
      &format!("{what}: headers must be an object of strings"),
    ));
  }
  // Counted before anything is copied: what is refused costs one pass over its names.
  let given = headers
    .as_object()
    .map_or(0, |o| o.keys::<rquickjs::Atom>().count());
  if given > MAX_REQUEST_HEADERS {
    return Err(Exception::throw_type(
      ctx,
      &format!("{what}: at most {MAX_REQUEST_HEADERS} headers may be sent. Received {given}"),
    ));
  }
  let json = copy_out(ctx, headers, &format!("{what}: headers"))?;
  let json: Json = crate::json::parse_value(&json)
    .map_err(|e| Exception::throw_type(ctx, &format!("{what}: headers: {e}")))?;
  let mut out: Vec<(String, String)> = Vec::new();
  for (name, value) in json.as_object().into_iter().flatten() {
    let value = match value {
      Json::String(s) => s.clone(),
      Json::Number(n) => n.to_string(),
      _ => {
        return Err(Exception::throw_type(
          ctx,
          &format!("{what}: the value of header {name:?} must be a string"),
        ))
      }
    };
    let name = check_request_header(name, &value)
      .map_err(|e| Exception::throw_type(ctx, &format!("{what}: {e}")))?;
    out.retain(|(n, _)| *n != name);
    out.push((name, value));
  }
  Ok(out)
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::api::{ExecState, OutputBudget, Waiting};
  use std::cell::RefCell;
  use std::rc::Rc;
  use std::sync::atomic::{AtomicU32, Ordering};
  use std::time::{Duration, Instant};

  /// An execution as the script API sees it, without the executor: it counts its waits, and
  /// says whether the execution was answered for meanwhile.
  struct Execution {
    waits: AtomicU32,
    answered_meanwhile: bool,
    records: std::sync::Mutex<Vec<crate::outcome::HttpRecord>>,
  }

  impl Waiting for Execution {
    fn wall_deadline(&self) -> Instant {
      Instant::now() + Duration::from_secs(5)
    }
    fn wall_limit(&self) -> Duration {
      Duration::from_secs(5)
    }
    fn outside_slot(&self, _what: crate::api::Wait, wait: &mut dyn FnMut()) -> bool {
      self.waits.fetch_add(1, Ordering::Relaxed);
      wait();
      !self.answered_meanwhile
    }
    fn stopped(&self) -> bool {
      false
    }
    fn record_request(&self, request: crate::outcome::HttpRecord) {
      self.records.lock().unwrap().push(request);
    }
    fn record_host_call(&self, _call: crate::outcome::HostCallRecord) {}
  }

  /// Runs `source` with `http` going to a proxy port nothing listens on; the result of the last
  /// expression as JSON, or `None` when the script was ended.
  fn run(source: &str, answered_meanwhile: bool) -> (Option<String>, u32, u32) {
    let (out, waits, requests, _) = run_recorded(source, answered_meanwhile);
    (out, waits, requests)
  }

  /// As [`run`], with the requests the execution recorded.
  fn run_recorded(
    source: &str,
    answered_meanwhile: bool,
  ) -> (Option<String>, u32, u32, Vec<crate::outcome::HttpRecord>) {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!(r#"{{"url":"http://{}"}}"#, dead.local_addr().unwrap());
    drop(dead);
    let egress = crate::egress::egress_for(&proxy).unwrap();
    let exec = Arc::new(Execution {
      waits: AtomicU32::new(0),
      answered_meanwhile,
      records: Default::default(),
    });
    let state: Shared = Rc::new(RefCell::new(ExecState {
      budget: OutputBudget::new(1 << 20),
      execution: Some(exec.clone()),
      ..Default::default()
    }));
    let rt = rquickjs::Runtime::new().unwrap();
    let context = rquickjs::Context::full(&rt).unwrap();
    let out = context.with(|ctx| {
      install(&ctx, &state, egress).unwrap();
      let value: rquickjs::Result<rquickjs::String> = ctx.eval(source);
      match value {
        Ok(s) => Some(s.to_string().unwrap()),
        Err(_) => {
          ctx.catch();
          None
        }
      }
    });
    let requests = state.borrow().http_requests;
    let records = exec.records.lock().unwrap().clone();
    (out, exec.waits.load(Ordering::Relaxed), requests, records)
  }

  #[test]
  fn a_request_waits_outside_the_slot_and_an_unreachable_proxy_is_status_0() {
    let (out, waits, requests) = run("JSON.stringify(http.get('http://93.184.216.34/'))", false);
    let out: Json = serde_json::from_str(&out.expect("the script went on")).unwrap();
    assert_eq!(out["status"], 0);
    let error = out["error"].as_str().unwrap();
    assert!(
      error.contains("is unreachable: connection refused"),
      "{error}"
    );
    assert_eq!((waits, requests), (1, 1));
  }

  #[test]
  fn an_execution_answered_for_while_it_waited_ends_there() {
    let (out, waits, _) = run("http.get('http://93.184.216.34/'); 'went on'", true);
    assert_eq!((out, waits), (None, 1));
  }

  #[test]
  fn a_blocked_destination_is_refused_with_its_rule() {
    let (out, waits, requests) = run("http.get('http://169.254.169.254/').error", false);
    assert!(out
      .unwrap()
      .starts_with("blocked by the egress policy (blocked-address)"));
    assert_eq!((waits, requests), (1, 1));
  }

  #[test]
  fn every_request_is_recorded_with_its_host_only_and_the_rule_that_refused_it() {
    let (_, _, requests, records) = run_recorded(
      "http.get('http://169.254.169.254/latest/meta-data?token=secret'); \
       http.post('http://93.184.216.34:8080/path', 'x'); 'done'",
      false,
    );
    assert_eq!(requests, 2);
    let [refused, unreachable] = &records[..] else {
      panic!("{records:?}")
    };
    assert_eq!(
      (
        refused.method.as_str(),
        refused.host.as_str(),
        refused.status
      ),
      ("GET", "169.254.169.254", 0)
    );
    assert_eq!(refused.error.as_deref(), Some("blocked"));
    assert_eq!(refused.rule.as_deref(), Some("blocked-address"));
    assert_eq!(
      (unreachable.method.as_str(), unreachable.host.as_str()),
      ("POST", "93.184.216.34")
    );
    assert_eq!(unreachable.error.as_deref(), Some("proxy-unreachable"));
    assert_eq!(unreachable.rule, None);
    let json = serde_json::to_string(&records).unwrap();
    assert!(!json.contains("token") && !json.contains("path"), "{json}");
  }
}

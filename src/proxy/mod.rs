//! The egress proxy: an authenticated HTTP/1.1 forward proxy that enforces the egress policy at
//! connect time, for scripts' HTTP requests. Embedded with `startEgressProxy`, or standalone
//! with `bin/backend-scripts-proxy.js`.
//!
//! For every request: authenticate (`auth`), judge the URL or CONNECT authority with the same
//! [`EgressPolicy`](crate::policy::EgressPolicy) the addon's client uses, resolve and judge every
//! address, connect to one of exactly those addresses (`connect`), then forward (`forward`) or
//! tunnel (`tunnel`), within the proxy's own limits (`limits`), reporting each outcome
//! (`decision`). Every answer the proxy gives itself is a [`refusal::Refusal`].
//!
//! This file holds the JavaScript-facing exports; the rest knows nothing of napi.

mod access;
mod auth;
mod connect;
mod decision;
mod dns;
mod forward;
mod head;
mod limits;
mod metrics;
pub(crate) mod options;
pub(crate) mod refusal;
mod server;
mod tunnel;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use napi::bindgen_prelude::{FromNapiValue, Function, JsObjectValue, Object, Unknown, ValueType};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsValue, Status};
use napi_derive::napi;

use crate::error::ArgError;
use crate::js::{self, Resolver};
use crate::options::from_json;
use decision::Decision;
pub use decision::Sink;
use options::EgressProxyOptions;
pub use options::ProxySettings;
use server::ProxyServer;

/// The body of every response the proxy sends to a client.
type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Decisions waiting for Node's event loop; past this many, new ones are dropped and counted in
/// `stats().droppedDecisions` rather than slowing the proxy down.
#[cfg_attr(test, allow(dead_code))] // reached only through napi's registration
const DECISION_QUEUE: usize = 4096;

/// Starts a proxy on the I/O runtime; `done` gets the running proxy's class, or the error to
/// reject with when it cannot listen.
pub fn start(
  settings: ProxySettings,
  sink: Option<Sink>,
  done: impl FnOnce(Resolver<EgressProxy>) + Send + 'static,
) {
  crate::io::runtime().spawn(async move {
    let started = ProxyServer::start(settings, sink).await;
    done(Box::new(move |env| match started {
      Ok(server) => Ok(EgressProxy::new(server)),
      Err((listen, e)) => Err(listen_error(&env, listen, e)),
    }));
  });
}

/// A running egress proxy.
#[napi]
pub struct EgressProxy {
  server: Arc<ProxyServer>,
}

#[napi]
impl EgressProxy {
  #[cfg_attr(test, allow(dead_code))] // reached only through napi's registration
  fn new(server: ProxyServer) -> Self {
    EgressProxy {
      server: Arc::new(server),
    }
  }

  /// The proxy's URL for clients, such as `http://127.0.0.1:3128`, without credentials. A proxy
  /// listening on all interfaces gives the loopback address.
  #[napi(getter)]
  pub fn url(&self) -> String {
    format!("http://{}", client_address(self.server.local_addr()))
  }

  /// The port the proxy listens on.
  #[napi(getter)]
  pub fn port(&self) -> u32 {
    self.server.local_addr().port() as u32
  }

  /// The URL of the metrics in the Prometheus text format, such as
  /// `http://127.0.0.1:9090/metrics`, when `metricsListen` was given; `null` otherwise.
  #[napi(getter)]
  pub fn metrics_url(&self) -> Option<String> {
    self
      .server
      .metrics_addr()
      .map(|addr| format!("http://{}/metrics", client_address(addr)))
  }

  /// Puts new options in force at once, validated like `startEgressProxy`'s (a `TypeError` or
  /// `RangeError` naming the field, and the options in force stay as they were): credentials and
  /// their rules, lists, timeouts and limits. Requests and tunnels under way go on under the
  /// options they started with, and the counts behind each credential's rate limits carry over.
  /// `listen` and `metricsListen` cannot change; `onDecision` is the one given at start.
  #[napi(ts_args_type = "options: EgressProxyOptions")]
  pub fn reload(&self, env: &Env, options: Option<Unknown>) -> napi::Result<()> {
    let settings = read_settings(env, options).map_err(|e| e.into_napi(env))?;
    self.server.reload(settings).map_err(|e| e.into_napi(env))
  }

  /// Stops accepting and releases the port at once, lets running requests and tunnels finish for
  /// up to `shutdownTimeoutMs`, then cuts the rest. Resolves when everything is closed.
  #[napi(ts_return_type = "Promise<void>")]
  pub fn close<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
    let (deferred, promise) = env.create_deferred::<(), Resolver<()>>()?;
    let server = self.server.clone();
    crate::io::runtime().spawn(async move {
      server.close().await;
      deferred.resolve(Box::new(|_| Ok(())));
    });
    Ok(promise)
  }

  /// The proxy's counters since it started. `requests` is every request received; once decided,
  /// each counts in exactly one of `allowed`, `denied` (by the policy or a limit),
  /// `authFailures` or `failed` (the destination could not be resolved, reached or read).
  #[napi]
  pub fn stats(&self) -> EgressProxyStats {
    let s = self.server.stats();
    EgressProxyStats {
      requests: s.requests as f64,
      allowed: s.allowed as f64,
      reported: s.reported as f64,
      denied: s.denied as f64,
      auth_failures: s.auth_failures as f64,
      failed: s.failed as f64,
      active_tunnels: s.active_tunnels as f64,
      bytes_up: s.bytes_up as f64,
      bytes_down: s.bytes_down as f64,
      dropped_decisions: s.dropped_decisions as f64,
    }
  }
}

/// Where a client reaches a listener: loopback for one on all interfaces.
fn client_address(addr: std::net::SocketAddr) -> std::net::SocketAddr {
  let ip = match addr.ip() {
    std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
    std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
    ip => ip,
  };
  std::net::SocketAddr::new(ip, addr.port())
}

/// Counters of an egress proxy.
#[napi(object, object_from_js = false)]
pub struct EgressProxyStats {
  pub requests: f64,
  pub allowed: f64,
  /// Allowed requests that their credential's rules would have refused (`mode: 'report'`);
  /// also counted in `allowed`.
  pub reported: f64,
  pub denied: f64,
  pub auth_failures: f64,
  pub failed: f64,
  /// Upstream connections open now: CONNECT tunnels and forwarded requests in flight.
  pub active_tunnels: f64,
  /// Bytes sent to destinations, headers included.
  pub bytes_up: f64,
  /// Bytes received from destinations, headers included.
  pub bytes_down: f64,
  /// Decisions not delivered to `onDecision` because Node's event loop fell far behind.
  pub dropped_decisions: f64,
}

/// The outcome of one request through the egress proxy.
#[cfg_attr(test, allow(dead_code))] // reached only through napi's registration
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct EgressDecision {
  /// The client's address, `ip:port`.
  pub client: String,
  /// The authenticated user, or the user name tried when authentication failed.
  pub username: Option<String>,
  /// `CONNECT`, `GET`, `POST`, …
  pub method: String,
  /// The request target as sent: `host:port` for CONNECT, the URL otherwise (any userinfo removed).
  pub target: String,
  /// Whether the proxy connected to the destination and relayed the exchange.
  pub allowed: bool,
  /// Allowed only because the credential is in `report` mode: `rule` and `reason` say what its
  /// rules would have refused.
  pub reported: bool,
  /// The status the client got: the destination's for a forwarded request, 200 for an opened
  /// tunnel, the proxy's own for a refusal; 0 when the client went away first.
  pub status: u32,
  /// Why it was not allowed (or, when `reported`, why it would not have been), as a stable code:
  /// a policy rule (`blocked-address`, `blocked-host`, `denied-address`, `denied-host`,
  /// `not-allowed-host`, `invalid-url`, `invalid-authority`, `scheme`, `userinfo`) or one of the
  /// proxy's (`proxy-auth`, `own-address`, `tunnel-limit`, `rate-limited`, `bad-request`,
  /// `header-too-large`, `resolve-failed`, `resolve-timeout`, `connect-failed`,
  /// `connect-timeout`, `upstream-failed`, `client-closed`).
  pub rule: Option<String>,
  /// The same in plain words: the body of the proxy's answer.
  pub reason: Option<String>,
  /// The address the proxy connected to, `ip:port`, when it connected.
  pub address: Option<String>,
  /// Bytes sent to the destination.
  pub bytes_up: f64,
  /// Bytes received from the destination.
  pub bytes_down: f64,
  pub duration_ms: f64,
}

impl From<Decision> for EgressDecision {
  fn from(d: Decision) -> Self {
    EgressDecision {
      client: d.client.to_string(),
      username: d.username,
      method: d.method,
      target: d.target,
      allowed: d.allowed,
      reported: d.reported,
      status: d.status as u32,
      rule: d.rule.map(str::to_owned),
      reason: d.reason,
      address: d.address.map(|a| a.to_string()),
      bytes_up: d.bytes_up as f64,
      bytes_down: d.bytes_down as f64,
      duration_ms: d.duration.as_secs_f64() * 1000.0,
    }
  }
}

/// The validated settings and the `onDecision` sink.
pub fn read_options(
  env: &Env,
  options: Option<Unknown>,
) -> Result<(ProxySettings, Option<Sink>), ArgError> {
  let json = js::object_arg(env, options, "options", "EgressProxyOptions")?;
  let (Some(json), Some(object)) = (json, options) else {
    let null = options.is_some_and(|o| o.get_type().ok() == Some(ValueType::Null));
    return Err(ArgError::Type {
      name: "options".into(),
      expected: "an object (EgressProxyOptions) with credentials".into(),
      received: if null { "null" } else { "undefined" }.into(),
    });
  };
  let config = from_json::<EgressProxyOptions>("options", &json)?.into_settings()?;
  let sink = decision_sink(env, object)?;
  Ok((config, sink))
}

/// The validated settings of `reload(options)`.
fn read_settings(env: &Env, options: Option<Unknown>) -> Result<ProxySettings, ArgError> {
  let Some(json) = js::object_arg(env, options, "options", "EgressProxyOptions")? else {
    return Err(ArgError::Type {
      name: "options".into(),
      expected: "an object (EgressProxyOptions) with credentials".into(),
      received: "null or undefined".into(),
    });
  };
  from_json::<EgressProxyOptions>("options", &json)?.into_settings()
}

/// `options.onDecision` as a sink that queues each decision for Node's event loop and never waits.
#[cfg_attr(test, allow(dead_code))] // reached only through napi's registration
fn decision_sink(env: &Env, options: Unknown) -> Result<Option<Sink>, ArgError> {
  let internal = |e: napi::Error| ArgError::Value {
    name: "options.onDecision".into(),
    reason: format!("cannot be used: {}", e.reason),
  };
  let object = unsafe { Object::from_napi_value(env.raw(), options.raw()) }.map_err(internal)?;
  let callback: Unknown = object.get_named_property("onDecision").map_err(internal)?;
  match callback.get_type().map_err(internal)? {
    ValueType::Undefined | ValueType::Null => return Ok(None),
    ValueType::Function => {}
    _ => {
      return Err(ArgError::Type {
        name: "options.onDecision".into(),
        expected: "of type function".into(),
        received: js::kind_of(&callback).describe(None),
      })
    }
  }
  let function: Function<EgressDecision, ()> =
    unsafe { Function::from_napi_value(env.raw(), callback.raw()) }.map_err(internal)?;
  // Weak: the proxy does not hold the process open; `close()` releases it.
  let tsfn: ThreadsafeFunction<
    EgressDecision,
    (),
    EgressDecision,
    Status,
    false,
    true,
    DECISION_QUEUE,
  > = function
    .build_threadsafe_function::<EgressDecision>()
    .callee_handled::<false>()
    .weak::<true>()
    .max_queue_size::<DECISION_QUEUE>()
    .build()
    .map_err(internal)?;
  Ok(Some(Box::new(move |decision: Decision| {
    tsfn.call(decision.into(), ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok
  })))
}

/// The error `startEgressProxy` rejects with when it cannot listen, with the system's code.
#[cfg_attr(test, allow(dead_code))] // reached only through napi's registration
fn listen_error(env: &Env, listen: std::net::SocketAddr, e: std::io::Error) -> napi::Error {
  // By kind, not by errno: Windows reports these as WSAE* numbers.
  let code = match e.kind() {
    std::io::ErrorKind::AddrInUse => "EADDRINUSE",
    std::io::ErrorKind::PermissionDenied => "EACCES",
    std::io::ErrorKind::AddrNotAvailable => "EADDRNOTAVAIL",
    _ => "ERR_EGRESS_PROXY_LISTEN",
  };
  let plain = e.to_string();
  let plain = plain
    .split(" (os error")
    .next()
    .unwrap_or(&plain)
    .to_lowercase();
  let message = format!("the egress proxy cannot listen on {listen}: {plain}");
  let build = || -> napi::Result<napi::Error> {
    let mut err: Object =
      env.create_error(napi::Error::new(Status::GenericFailure, message.clone()))?;
    err.set_named_property("code", code)?;
    Ok(napi::Error::from(err.to_unknown()))
  };
  build().unwrap_or_else(|e| e)
}

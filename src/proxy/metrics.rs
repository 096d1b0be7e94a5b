//! The proxy's metrics, in the Prometheus text exposition format (version 0.0.4), served on the
//! optional admin listener (`metricsListen`): decisions by credential, outcome and rule, bytes,
//! durations, and the upstream connections open now.
//!
//! Written out here rather than through a metrics library: the series are few and fixed by the
//! configuration, and the format is a handful of lines. Label values come only from the
//! configuration and the proxy's own codes, never from what a client sends (a user name that
//! failed to authenticate is not a label), so no client can grow the number of series.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::decision::Decision;
use super::refusal::Kind;
use super::server::ProxyState;
use super::ProxyBody;

/// Upper bounds of the duration histogram's buckets, in seconds: a refusal takes microseconds, a
/// forwarded request milliseconds to seconds, a tunnel as long as its client keeps it.
const BUCKETS: [f64; 14] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

/// The content type of the text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Default)]
pub struct Metrics {
  series: Mutex<Series>,
}

#[derive(Default)]
struct Series {
  decisions: BTreeMap<(String, &'static str, &'static str), u64>,
  bytes: BTreeMap<(String, &'static str), u64>,
  durations: BTreeMap<(String, &'static str), Histogram>,
  open: BTreeMap<(String, &'static str), i64>,
  dropped_decisions: u64,
}

#[derive(Default)]
struct Histogram {
  buckets: [u64; BUCKETS.len()],
  sum: f64,
  count: u64,
}

/// `tunnel` for a CONNECT, `forward` for a plain request.
pub fn kind_of(method: &str) -> &'static str {
  if method == "CONNECT" {
    "tunnel"
  } else {
    "forward"
  }
}

/// One upstream connection counted in `egress_proxy_open_connections` until dropped.
pub struct Open {
  metrics: Arc<Metrics>,
  key: (String, &'static str),
}

impl Drop for Open {
  fn drop(&mut self) {
    let mut series = self.metrics.lock();
    if let Some(n) = series.open.get_mut(&self.key) {
      *n -= 1;
    }
  }
}

impl Metrics {
  fn lock(&self) -> std::sync::MutexGuard<'_, Series> {
    self.series.lock().unwrap_or_else(|e| e.into_inner())
  }

  /// Counts one decision; `kind` is how it counts in the stats, `None` when allowed.
  pub fn record(&self, d: &Decision, kind: Option<Kind>) {
    let outcome = match kind {
      None if d.reported => "reported",
      None => "allowed",
      Some(Kind::Denied) => "denied",
      Some(Kind::Failed) => "failed",
      Some(Kind::AuthFailure) => "auth-failure",
    };
    // Only a credential that authenticated is a label.
    let credential = match kind {
      Some(Kind::AuthFailure) => String::new(),
      _ => d.username.clone().unwrap_or_default(),
    };
    let mut series = self.lock();
    *series
      .decisions
      .entry((credential.clone(), outcome, d.rule.unwrap_or("")))
      .or_default() += 1;
    for (direction, n) in [("up", d.bytes_up), ("down", d.bytes_down)] {
      *series
        .bytes
        .entry((credential.clone(), direction))
        .or_default() += n;
    }
    let seconds = d.duration.as_secs_f64();
    let histogram = series
      .durations
      .entry((credential, kind_of(&d.method)))
      .or_default();
    for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
      if seconds <= bound {
        *bucket += 1;
      }
    }
    histogram.sum += seconds;
    histogram.count += 1;
  }

  pub fn dropped_decision(&self) {
    self.lock().dropped_decisions += 1;
  }

  /// Counts an upstream connection of `credential` as open until the result is dropped.
  pub fn open(self: &Arc<Self>, credential: &str, kind: &'static str) -> Open {
    let key = (credential.to_owned(), kind);
    *self.lock().open.entry(key.clone()).or_default() += 1;
    Open {
      metrics: self.clone(),
      key,
    }
  }

  /// Every series, in the text format.
  pub fn render(&self) -> String {
    let series = self.lock();
    let mut out = String::new();
    let name = family(
      &mut out,
      "egress_proxy_decisions_total",
      "counter",
      "Requests the proxy decided, by credential (empty before authentication), outcome \
       (allowed, reported, denied, failed, auth-failure) and rule (empty when allowed).",
    );
    for ((credential, outcome, rule), n) in &series.decisions {
      let labels = labels(&[
        ("credential", credential),
        ("outcome", outcome),
        ("rule", rule),
      ]);
      let _ = writeln!(out, "{name}{labels} {n}");
    }
    let name = family(
      &mut out,
      "egress_proxy_bytes_total",
      "counter",
      "Bytes sent to (up) and received from (down) destinations, headers included, by \
       credential; counted when each request or tunnel ends.",
    );
    for ((credential, direction), n) in &series.bytes {
      let labels = labels(&[("credential", credential), ("direction", direction)]);
      let _ = writeln!(out, "{name}{labels} {n}");
    }
    let name = family(
      &mut out,
      "egress_proxy_request_duration_seconds",
      "histogram",
      "How long requests took, from their first byte to their decision (for a tunnel, until it \
       closed), by credential and kind (tunnel, forward).",
    );
    for ((credential, kind), h) in &series.durations {
      let base = [("credential", credential.as_str()), ("kind", *kind)];
      for (bound, n) in BUCKETS.iter().zip(h.buckets) {
        let le = bound.to_string();
        let labels = labels(&[base[0], base[1], ("le", &le)]);
        let _ = writeln!(out, "{name}_bucket{labels} {n}");
      }
      let labels_inf = labels(&[base[0], base[1], ("le", "+Inf")]);
      let plain = labels(&base);
      let _ = writeln!(out, "{name}_bucket{labels_inf} {}", h.count);
      let _ = writeln!(out, "{name}_sum{plain} {}", h.sum);
      let _ = writeln!(out, "{name}_count{plain} {}", h.count);
    }
    let name = family(
      &mut out,
      "egress_proxy_open_connections",
      "gauge",
      "Upstream connections open now, by credential and kind: CONNECT tunnels (tunnel) and \
       forwarded requests in flight (forward).",
    );
    for ((credential, kind), n) in &series.open {
      let labels = labels(&[("credential", credential), ("kind", kind)]);
      let _ = writeln!(out, "{name}{labels} {n}");
    }
    let name = family(
      &mut out,
      "egress_proxy_dropped_decisions_total",
      "counter",
      "Decisions not delivered to onDecision (the decision log) because it fell far behind.",
    );
    let _ = writeln!(out, "{name} {}", series.dropped_decisions);
    out
  }
}

/// Writes a family's HELP and TYPE lines; its samples follow.
fn family<'a>(out: &mut String, name: &'a str, kind: &str, help: &str) -> &'a str {
  let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
  name
}

/// `{a="x",b="y"}`, values escaped as the format says.
fn labels(pairs: &[(&str, &str)]) -> String {
  let inner: Vec<String> = pairs
    .iter()
    .map(|(name, value)| {
      let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
      format!("{name}=\"{escaped}\"")
    })
    .collect();
  format!("{{{}}}", inner.join(","))
}

/// Serves `/metrics` and `/healthz` on the admin listener until the proxy is closed.
pub async fn serve_admin(listener: TcpListener, shared: Arc<ProxyState>) {
  loop {
    let (stream, _) = tokio::select! {
      accepted = listener.accept() => match accepted {
        Ok(accepted) => accepted,
        Err(_) => {
          tokio::time::sleep(std::time::Duration::from_millis(50)).await;
          continue;
        }
      },
      _ = shared.draining.cancelled() => return,
    };
    let shared = shared.clone();
    let tasks = shared.tasks.clone();
    tasks.spawn(async move {
      let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(admin_answer(&shared, &req)) }
      });
      let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
      let _ = tokio::time::timeout(std::time::Duration::from_secs(10), conn).await;
    });
  }
}

fn admin_answer(shared: &ProxyState, req: &Request<Incoming>) -> Response<ProxyBody> {
  let (status, body) = match (req.method(), req.uri().path()) {
    (&Method::GET, "/metrics") => (StatusCode::OK, shared.journal.metrics.render()),
    (&Method::GET, "/healthz") => (StatusCode::OK, "ok\n".to_owned()),
    _ => (
      StatusCode::NOT_FOUND,
      "not found: GET /metrics or /healthz\n".to_owned(),
    ),
  };
  let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
  *response.status_mut() = status;
  response
    .headers_mut()
    .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
  response
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::time::Duration;

  fn decision(username: Option<&str>, method: &str, rule: Option<&'static str>) -> Decision {
    Decision {
      client: "127.0.0.1:5000".parse().unwrap(),
      username: username.map(str::to_owned),
      method: method.into(),
      target: "x".into(),
      allowed: rule.is_none(),
      reported: false,
      status: 200,
      rule,
      reason: None,
      address: None,
      bytes_up: 10,
      bytes_down: 20,
      duration: Duration::from_millis(30),
    }
  }

  #[test]
  fn renders_each_family_with_its_samples_in_the_text_format() {
    let metrics = Arc::new(Metrics::default());
    metrics.record(&decision(Some("site"), "GET", None), None);
    metrics.record(
      &decision(Some("site"), "CONNECT", Some("blocked-address")),
      Some(Kind::Denied),
    );
    metrics.record(
      &decision(Some("intruder"), "GET", Some("proxy-auth")),
      Some(Kind::AuthFailure),
    );
    let open = metrics.open("site", "tunnel");
    let text = metrics.render();
    for line in [
      "# TYPE egress_proxy_decisions_total counter",
      "egress_proxy_decisions_total{credential=\"site\",outcome=\"allowed\",rule=\"\"} 1",
      "egress_proxy_decisions_total{credential=\"site\",outcome=\"denied\",rule=\"blocked-address\"} 1",
      "egress_proxy_decisions_total{credential=\"\",outcome=\"auth-failure\",rule=\"proxy-auth\"} 1",
      "egress_proxy_bytes_total{credential=\"site\",direction=\"up\"} 20",
      "egress_proxy_request_duration_seconds_bucket{credential=\"site\",kind=\"forward\",le=\"0.025\"} 0",
      "egress_proxy_request_duration_seconds_bucket{credential=\"site\",kind=\"forward\",le=\"0.05\"} 1",
      "egress_proxy_request_duration_seconds_bucket{credential=\"site\",kind=\"forward\",le=\"+Inf\"} 1",
      "egress_proxy_request_duration_seconds_count{credential=\"site\",kind=\"tunnel\"} 1",
      "egress_proxy_open_connections{credential=\"site\",kind=\"tunnel\"} 1",
      "egress_proxy_dropped_decisions_total 0",
    ] {
      assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
    assert!(!text.contains("intruder"), "{text}");
    // Every sample follows the TYPE line of its family.
    let mut family = "";
    for line in text.lines() {
      if let Some(name) = line.strip_prefix("# TYPE ") {
        family = name.split(' ').next().unwrap();
      } else if !line.starts_with('#') {
        assert!(line.starts_with(family), "{line} after {family}");
      }
    }
    drop(open);
    assert!(metrics
      .render()
      .contains("egress_proxy_open_connections{credential=\"site\",kind=\"tunnel\"} 0"));
  }

  #[test]
  fn label_values_are_escaped() {
    assert_eq!(
      labels(&[("credential", "a\"b\\c\nd")]),
      "{credential=\"a\\\"b\\\\c\\nd\"}"
    );
  }
}

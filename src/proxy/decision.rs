//! What the proxy decided for each request, and its running totals.
//!
//! A [`Pending`] follows one request from its first byte to its outcome and reports it exactly
//! once, when it is dropped: at once for a refusal, when the response body has been sent for a
//! forwarded request, when the tunnel closes for a CONNECT. Reporting never waits: the sink
//! hands the decision to Node's event loop and returns.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hyper::{Response, StatusCode};

use super::access::InFlight;
use super::limits::Traffic;
use super::metrics::{self, Metrics, Open};
use super::refusal::{Kind, Refusal};
use super::ProxyBody;
use crate::wire::ProxyRule;

/// One request's outcome, as the `onDecision` callback and the command line's log see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
  pub client: SocketAddr,
  /// The authenticated user, or the user name tried when authentication failed.
  pub username: Option<String>,
  pub method: String,
  /// The request target as sent (absolute URL or `host:port`), without any userinfo.
  pub target: String,
  /// Whether the proxy connected to the destination and relayed the exchange.
  pub allowed: bool,
  /// Allowed only because the credential is in report mode: `rule` and `reason` say what its
  /// rules would have refused.
  pub reported: bool,
  /// The status the client got (0 when it went away first).
  pub status: u16,
  /// Why not allowed (or, when `reported`, why it would not have been): a rule code (see
  /// [`Refusal::rule`]); `None` when allowed.
  pub rule: Option<&'static str>,
  /// The same in plain words.
  pub reason: Option<String>,
  /// The address connected to, when the proxy connected.
  pub address: Option<SocketAddr>,
  pub bytes_up: u64,
  pub bytes_down: u64,
  pub duration: Duration,
}

/// Where decisions go; returns false when it had to drop one (its queue was full).
pub type Sink = Box<dyn Fn(Decision) -> bool + Send + Sync>;

/// The proxy's counters, and the sink.
#[derive(Default)]
pub struct Journal {
  pub requests: AtomicU64,
  pub allowed: AtomicU64,
  pub denied: AtomicU64,
  pub auth_failures: AtomicU64,
  pub failed: AtomicU64,
  /// Allowed requests that their credential's rules would have refused (report mode).
  pub reported: AtomicU64,
  pub dropped_decisions: AtomicU64,
  pub metrics: Arc<Metrics>,
  /// Bytes to and from destinations, over all requests.
  pub traffic: Arc<Traffic>,
  sink: RwLock<Option<Sink>>,
}

impl Journal {
  pub fn new(sink: Option<Sink>) -> Arc<Self> {
    Arc::new(Journal {
      sink: RwLock::new(sink),
      ..Default::default()
    })
  }

  /// Stops reporting (after `close()`), releasing the callback.
  pub fn detach_sink(&self) {
    *self.sink.write().unwrap_or_else(|e| e.into_inner()) = None;
  }

  fn record(&self, decision: Decision, kind: Option<Kind>) {
    let counter = match kind {
      None => &self.allowed,
      Some(Kind::AuthFailure) => &self.auth_failures,
      Some(Kind::Denied) => &self.denied,
      Some(Kind::Failed) => &self.failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if decision.reported {
      self.reported.fetch_add(1, Ordering::Relaxed);
    }
    self.metrics.record(&decision, kind);
    let sink = self.sink.read().unwrap_or_else(|e| e.into_inner());
    if let Some(sink) = sink.as_ref() {
      if !sink(decision) {
        self.dropped_decisions.fetch_add(1, Ordering::Relaxed);
        self.metrics.dropped_decision();
      }
    }
  }
}

/// A request under way; reports its decision when dropped.
pub struct Pending {
  journal: Arc<Journal>,
  started: Instant,
  client: SocketAddr,
  method: String,
  target: String,
  username: Option<String>,
  address: Option<SocketAddr>,
  traffic: Option<Arc<Traffic>>,
  status: Option<StatusCode>,
  refusal: Option<Refusal>,
  /// What the credential's rules would have refused, in report mode.
  noted: Option<Refusal>,
  /// Held while the request is under way: its place in the credential's `maxConcurrent`, and in
  /// the open-connections gauge once connected.
  _in_flight: Option<InFlight>,
  _open: Option<Open>,
}

impl Pending {
  pub fn start(journal: Arc<Journal>, client: SocketAddr, method: &str, target: &str) -> Self {
    journal.requests.fetch_add(1, Ordering::Relaxed);
    Pending {
      journal,
      started: Instant::now(),
      client,
      method: method.to_owned(),
      target: without_userinfo(target),
      username: None,
      address: None,
      traffic: None,
      status: None,
      refusal: None,
      noted: None,
      _in_flight: None,
      _open: None,
    }
  }

  /// The request counts against its credential's `maxConcurrent` until it is decided.
  pub fn hold(&mut self, in_flight: InFlight) {
    self._in_flight = Some(in_flight);
  }

  /// What report mode let pass, for the decision.
  pub fn note(&mut self, noted: Option<Refusal>) {
    self.noted = self.noted.take().or(noted);
  }

  pub fn set_username(&mut self, username: Option<&str>) {
    self.username = username.map(str::to_owned);
  }

  /// The destination socket is open; its traffic is the request's.
  pub fn connected(&mut self, address: SocketAddr, traffic: Arc<Traffic>) {
    self.address = Some(address);
    self.traffic = Some(traffic);
    let credential = self.username.as_deref().unwrap_or_default();
    self._open = Some(
      self
        .journal
        .metrics
        .open(credential, metrics::kind_of(&self.method)),
    );
  }

  /// The client got the destination's answer (or the tunnel was opened) with this status.
  pub fn answered(&mut self, status: StatusCode) {
    self.status = Some(status);
  }

  /// The proxy answers itself; the decision is reported when `self` is dropped.
  pub fn refuse(&mut self, refusal: Refusal) {
    self.status = Some(refusal.status());
    self.refusal = Some(refusal);
  }

  /// Refuses, reports the decision, and gives the response that tells the client why.
  pub fn into_refusal(mut self, refusal: Refusal, connect: bool) -> Response<ProxyBody> {
    let response = refusal.response(connect);
    self.refuse(refusal);
    response
  }
}

impl Drop for Pending {
  fn drop(&mut self) {
    let (bytes_up, bytes_down) = self.traffic.as_ref().map_or((0, 0), |t| t.get());
    let answered = self.status.is_some();
    let (allowed, kind, rule, reason) = match &self.refusal {
      Some(refusal) => (
        false,
        Some(refusal.kind()),
        Some(refusal.rule()),
        Some(refusal.to_string()),
      ),
      None if answered && self.address.is_some() => match &self.noted {
        Some(noted) => (true, None, Some(noted.rule()), Some(noted.to_string())),
        None => (true, None, None, None),
      },
      // Dropped with no answer: the client went away, or the proxy was closed, first.
      None => (
        false,
        Some(Kind::Failed),
        Some(ProxyRule::ClientClosed.code()),
        Some("the client closed the connection before the destination answered".to_owned()),
      ),
    };
    let reported = allowed && rule.is_some();
    let decision = Decision {
      client: self.client,
      username: self.username.take(),
      method: std::mem::take(&mut self.method),
      target: std::mem::take(&mut self.target),
      allowed,
      reported,
      status: self.status.map_or(0, |s| s.as_u16()),
      rule,
      reason,
      address: self.address,
      bytes_up,
      bytes_down,
      duration: self.started.elapsed(),
    };
    self.journal.record(decision, kind);
  }
}

/// `http://user:pass@host/` → `http://host/`, `user@host:443` → `host:443`, so credentials a
/// client put in a target never reach a log. Only the authority is looked at.
pub fn without_userinfo(target: &str) -> String {
  let (scheme, rest) = match target.find("://") {
    Some(i) => target.split_at(i + 3),
    None => ("", target),
  };
  let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
  match rest[..authority_end].rfind('@') {
    Some(at) => format!("{scheme}{}", &rest[at + 1..]),
    None => target.to_owned(),
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::sync::Mutex;

  fn journal() -> (Arc<Journal>, Arc<Mutex<Vec<Decision>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = seen.clone();
    let sink: Sink = Box::new(move |d| {
      sink_seen.lock().unwrap().push(d);
      true
    });
    (Journal::new(Some(sink)), seen)
  }

  fn client() -> SocketAddr {
    "127.0.0.1:5000".parse().unwrap()
  }

  #[test]
  fn a_refusal_is_reported_once_with_its_rule() {
    let (journal, seen) = journal();
    let mut pending = Pending::start(journal.clone(), client(), "CONNECT", "10.0.0.1:443");
    pending.set_username(Some("app"));
    pending.refuse(Refusal::TunnelLimit { limit: 1 });
    drop(pending);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let d = &seen[0];
    assert_eq!(
      (d.allowed, d.status, d.rule, d.username.as_deref()),
      (false, 429, Some("tunnel-limit"), Some("app"))
    );
    assert_eq!(journal.denied.load(Ordering::Relaxed), 1);
    assert_eq!(journal.requests.load(Ordering::Relaxed), 1);
  }

  #[test]
  fn an_answered_request_reports_its_address_and_bytes() {
    let (journal, seen) = journal();
    let mut pending = Pending::start(journal.clone(), client(), "GET", "http://a.example/");
    let traffic = Arc::new(Traffic::default());
    traffic.up.store(10, Ordering::Relaxed);
    traffic.down.store(20, Ordering::Relaxed);
    pending.connected("93.184.216.34:80".parse().unwrap(), traffic);
    pending.answered(StatusCode::NOT_FOUND);
    drop(pending);
    let d = seen.lock().unwrap()[0].clone();
    assert!(d.allowed);
    assert_eq!((d.status, d.rule, d.reason), (404, None, None));
    assert_eq!((d.bytes_up, d.bytes_down), (10, 20));
    assert_eq!(d.address, Some("93.184.216.34:80".parse().unwrap()));
    assert_eq!(journal.allowed.load(Ordering::Relaxed), 1);
  }

  #[test]
  fn a_request_dropped_unanswered_counts_as_failed() {
    let (journal, seen) = journal();
    drop(Pending::start(
      journal.clone(),
      client(),
      "GET",
      "http://a.example/",
    ));
    let d = seen.lock().unwrap()[0].clone();
    assert_eq!(
      (d.allowed, d.status, d.rule),
      (false, 0, Some("client-closed"))
    );
    assert_eq!(journal.failed.load(Ordering::Relaxed), 1);
  }

  #[test]
  fn a_full_sink_counts_dropped_decisions() {
    let journal = Journal::new(Some(Box::new(|_| false)));
    let mut pending = Pending::start(journal.clone(), client(), "GET", "http://a.example/");
    pending.refuse(Refusal::BadRequest("x".into()));
    drop(pending);
    assert_eq!(journal.dropped_decisions.load(Ordering::Relaxed), 1);
    journal.detach_sink();
    drop(Pending::start(journal.clone(), client(), "GET", "x"));
    assert_eq!(journal.dropped_decisions.load(Ordering::Relaxed), 1);
  }

  #[test]
  fn userinfo_never_reaches_the_log() {
    let rows = [
      ("http://user:pass@example.com/a@b", "http://example.com/a@b"),
      ("http://a@b@example.com/", "http://example.com/"),
      ("user:pass@example.com:443", "example.com:443"),
      ("http://example.com/?to=a@b", "http://example.com/?to=a@b"),
      ("example.com:443", "example.com:443"),
    ];
    for (target, logged) in rows {
      assert_eq!(without_userinfo(target), logged, "{target}");
    }
  }
}

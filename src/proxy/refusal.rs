//! Every answer the proxy gives in place of the destination's, as a value carrying its reason:
//! the status, a stable rule code, and a plain-words message that is also the response body.
//!
//! Refusals by the egress policy answer 403 with `X-Egress-Denied: <rule>`; the proxy's other
//! answers carry `X-Egress-Error: <rule>` (see `crate::wire`), so a client can tell them from the
//! destination's own 4xx and 5xx responses.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, PROXY_AUTHENTICATE, RETRY_AFTER};
use hyper::{Response, StatusCode};

use super::auth::{AuthFailure, CHALLENGE};
use super::ProxyBody;
use crate::policy::Denial;
use crate::wire::{ProxyRule, DENIED_HEADER, ERROR_HEADER};

/// Why the proxy answered a request itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
  /// Missing, malformed or wrong `Proxy-Authorization`.
  Auth(AuthFailure),
  /// The egress policy refused the destination or one of its addresses.
  Policy(Denial),
  /// The destination is the proxy's own listening address.
  OwnAddress { addr: SocketAddr },
  /// The client already holds `limit` upstream connections.
  TunnelLimit { limit: usize },
  /// The credential used up one of its rate limits.
  RateLimited { username: String, limit: RateLimit },
  /// Not a forward-proxy request the proxy can serve, or not valid HTTP/1.1.
  BadRequest(String),
  /// The request head is larger than the proxy reads.
  HeaderTooLarge(HeadLimit),
  /// The host name did not resolve.
  ResolveFailed { host: String, reason: String },
  /// The host name did not resolve in time.
  ResolveTimeout { host: String, limit: Duration },
  /// No checked address accepted a connection.
  ConnectFailed { addr: SocketAddr, reason: String },
  /// The connection was not established in time.
  ConnectTimeout { addr: SocketAddr, limit: Duration },
  /// The destination accepted the connection but gave no usable response.
  UpstreamFailed { reason: String },
}

/// Which of a credential's rate limits refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
  /// `maxRequestsPerMinute`; the next request is admitted after `retry_after`.
  PerMinute { limit: u32, retry_after: Duration },
  /// `maxConcurrent`.
  Concurrent { limit: u32 },
}

/// Which bound of a request head was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadLimit {
  /// The request line and headers hold more than `maxHeaderBytes`.
  Bytes(usize),
  /// More header fields than the proxy parses.
  Fields(usize),
  /// A request target longer than the proxy parses.
  Target(usize),
}

/// How a refusal counts in the proxy's stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
  AuthFailure,
  Denied,
  Failed,
}

impl Refusal {
  pub fn status(&self) -> StatusCode {
    match self {
      Refusal::Auth(_) => StatusCode::PROXY_AUTHENTICATION_REQUIRED,
      Refusal::Policy(_) | Refusal::OwnAddress { .. } => StatusCode::FORBIDDEN,
      Refusal::TunnelLimit { .. } | Refusal::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
      Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
      Refusal::HeaderTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
      Refusal::ResolveFailed { .. }
      | Refusal::ConnectFailed { .. }
      | Refusal::UpstreamFailed { .. } => StatusCode::BAD_GATEWAY,
      Refusal::ResolveTimeout { .. } | Refusal::ConnectTimeout { .. } => {
        StatusCode::GATEWAY_TIMEOUT
      }
    }
  }

  /// A stable short code: a [`Denial::rule`] for policy refusals, else one of the proxy's own.
  pub fn rule(&self) -> &'static str {
    let own = match self {
      Refusal::Policy(denial) => return denial.rule(),
      Refusal::Auth(_) => ProxyRule::ProxyAuth,
      Refusal::OwnAddress { .. } => ProxyRule::OwnAddress,
      Refusal::TunnelLimit { .. } => ProxyRule::TunnelLimit,
      Refusal::RateLimited { .. } => ProxyRule::RateLimited,
      Refusal::BadRequest(_) => ProxyRule::BadRequest,
      Refusal::HeaderTooLarge(_) => ProxyRule::HeaderTooLarge,
      Refusal::ResolveFailed { .. } => ProxyRule::ResolveFailed,
      Refusal::ResolveTimeout { .. } => ProxyRule::ResolveTimeout,
      Refusal::ConnectFailed { .. } => ProxyRule::ConnectFailed,
      Refusal::ConnectTimeout { .. } => ProxyRule::ConnectTimeout,
      Refusal::UpstreamFailed { .. } => ProxyRule::UpstreamFailed,
    };
    own.code()
  }

  pub fn kind(&self) -> Kind {
    match self {
      Refusal::Auth(_) => Kind::AuthFailure,
      Refusal::Policy(_)
      | Refusal::OwnAddress { .. }
      | Refusal::TunnelLimit { .. }
      | Refusal::RateLimited { .. }
      | Refusal::BadRequest(_)
      | Refusal::HeaderTooLarge(_) => Kind::Denied,
      _ => Kind::Failed,
    }
  }

  /// The response the client gets. Refused CONNECTs close the connection, so that bytes a client
  /// sent ahead for the tunnel are never read as requests.
  pub fn response(&self, connect: bool) -> Response<ProxyBody> {
    let mut message = self.to_string();
    message.push('\n');
    let mut response = Response::new(
      Full::new(Bytes::from(message))
        .map_err(|e| match e {})
        .boxed(),
    );
    *response.status_mut() = self.status();
    let headers = response.headers_mut();
    headers.insert(
      CONTENT_TYPE,
      HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let marker = match self.status() {
      StatusCode::FORBIDDEN => DENIED_HEADER,
      StatusCode::PROXY_AUTHENTICATION_REQUIRED => {
        headers.insert(PROXY_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
        ERROR_HEADER
      }
      _ => ERROR_HEADER,
    };
    headers.insert(marker, HeaderValue::from_static(self.rule()));
    if let Refusal::RateLimited {
      limit: RateLimit::PerMinute { retry_after, .. },
      ..
    } = self
    {
      let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
      headers.insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    if connect {
      headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
  }
}

#[cfg(test)]
impl Refusal {
  /// One refusal of every kind the proxy gives, for the tests of both sides of the wire.
  pub fn one_of_each() -> Vec<Refusal> {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let limit = Duration::from_millis(5);
    let host = || "a.example".to_string();
    let policy = crate::policy::EgressPolicy::default();
    vec![
      Refusal::Auth(AuthFailure::Missing),
      Refusal::Policy(policy.check_url("http://169.254.169.254/").unwrap_err()),
      Refusal::Policy(policy.check_url("ftp://a.example/").unwrap_err()),
      Refusal::OwnAddress { addr },
      Refusal::TunnelLimit { limit: 2 },
      Refusal::RateLimited {
        username: "site".into(),
        limit: RateLimit::Concurrent { limit: 4 },
      },
      Refusal::BadRequest("x".into()),
      Refusal::HeaderTooLarge(HeadLimit::Bytes(16384)),
      Refusal::ResolveFailed {
        host: host(),
        reason: "no such host".into(),
      },
      Refusal::ResolveTimeout {
        host: host(),
        limit,
      },
      Refusal::ConnectFailed {
        addr,
        reason: "connection refused".into(),
      },
      Refusal::ConnectTimeout { addr, limit },
      Refusal::UpstreamFailed { reason: "x".into() },
    ]
  }
}

impl fmt::Display for Refusal {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      Refusal::Auth(AuthFailure::Missing) => f.write_str(
        "the egress proxy requires credentials: send Proxy-Authorization with Basic credentials",
      ),
      Refusal::Auth(AuthFailure::Malformed) => f.write_str(
        "the egress proxy could not read the credentials: Proxy-Authorization must be \
         \"Basic\" followed by base64 of username:password",
      ),
      Refusal::Auth(AuthFailure::Refused { .. }) => {
        f.write_str("the egress proxy refused the credentials: check the proxy user name and password")
      }
      Refusal::Policy(denial) => write!(f, "{denial}"),
      Refusal::OwnAddress { addr } => write!(
        f,
        "destination {addr} is the egress proxy itself: the proxy does not connect to its own address"
      ),
      Refusal::TunnelLimit { limit } => write!(
        f,
        "too many connections through the egress proxy from this client: it already holds \
         {limit}, the most allowed (maxTunnelsPerClient)"
      ),
      Refusal::RateLimited { username, limit: RateLimit::PerMinute { limit, retry_after } } => write!(
        f,
        "too many requests through the egress proxy for the credential \"{username}\": it may make \
         {limit} a minute (maxRequestsPerMinute); the next is admitted in {} ms",
        retry_after.as_millis().max(1)
      ),
      Refusal::RateLimited { username, limit: RateLimit::Concurrent { limit } } => write!(
        f,
        "too many requests through the egress proxy at once for the credential \"{username}\": \
         it may have {limit} under way (maxConcurrent)"
      ),
      Refusal::BadRequest(reason) => write!(f, "the egress proxy cannot serve this request: {reason}"),
      Refusal::HeaderTooLarge(HeadLimit::Bytes(limit)) => write!(
        f,
        "the request line and headers are larger than the egress proxy reads: at most {limit} bytes (maxHeaderBytes)"
      ),
      Refusal::HeaderTooLarge(HeadLimit::Fields(limit)) => write!(
        f,
        "the request has more header fields than the egress proxy reads: at most {limit}"
      ),
      Refusal::HeaderTooLarge(HeadLimit::Target(limit)) => write!(
        f,
        "the request target is longer than the egress proxy reads: at most {limit} bytes"
      ),
      Refusal::ResolveFailed { host, reason } => {
        write!(f, "cannot resolve host \"{host}\": {reason}")
      }
      Refusal::ResolveTimeout { host, limit } => write!(
        f,
        "resolving host \"{host}\" timed out after {} ms",
        limit.as_millis()
      ),
      Refusal::ConnectFailed { addr, reason } => write!(f, "cannot connect to {addr}: {reason}"),
      Refusal::ConnectTimeout { addr, limit } => write!(
        f,
        "connecting to {addr} timed out after {} ms",
        limit.as_millis()
      ),
      Refusal::UpstreamFailed { reason } => {
        write!(f, "the destination gave no usable response: {reason}")
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::policy::EgressPolicy;

  fn header<'a>(response: &'a Response<ProxyBody>, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
  }

  #[test]
  fn a_policy_refusal_is_a_403_naming_its_rule() {
    let denial = EgressPolicy::default()
      .check_url("http://169.254.169.254/")
      .unwrap_err();
    let refusal = Refusal::Policy(denial.clone());
    let response = refusal.response(false);
    assert_eq!(response.status(), 403);
    assert_eq!(header(&response, DENIED_HEADER), Some("blocked-address"));
    assert_eq!(header(&response, ERROR_HEADER), None);
    assert_eq!(header(&response, "connection"), None);
    assert_eq!(refusal.to_string(), denial.to_string());
    assert_eq!(refusal.kind(), Kind::Denied);
  }

  #[test]
  fn an_auth_failure_is_a_407_with_the_challenge() {
    let response = Refusal::Auth(AuthFailure::Missing).response(true);
    assert_eq!(response.status(), 407);
    assert_eq!(
      header(&response, "proxy-authenticate"),
      Some("Basic realm=\"backend-scripts egress\"")
    );
    assert_eq!(header(&response, ERROR_HEADER), Some("proxy-auth"));
    assert_eq!(header(&response, "connection"), Some("close"));
  }

  #[test]
  fn each_refusal_has_its_status_rule_and_kind() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let ms = Duration::from_millis(5);
    let rows = [
      (
        Refusal::OwnAddress { addr },
        403,
        "own-address",
        Kind::Denied,
      ),
      (
        Refusal::TunnelLimit { limit: 2 },
        429,
        "tunnel-limit",
        Kind::Denied,
      ),
      (
        Refusal::BadRequest("x".into()),
        400,
        "bad-request",
        Kind::Denied,
      ),
      (
        Refusal::HeaderTooLarge(HeadLimit::Fields(100)),
        431,
        "header-too-large",
        Kind::Denied,
      ),
      (
        Refusal::RateLimited {
          username: "site".into(),
          limit: RateLimit::Concurrent { limit: 3 },
        },
        429,
        "rate-limited",
        Kind::Denied,
      ),
      (
        Refusal::ResolveFailed {
          host: "a.example".into(),
          reason: "no such host".into(),
        },
        502,
        "resolve-failed",
        Kind::Failed,
      ),
      (
        Refusal::ResolveTimeout {
          host: "a.example".into(),
          limit: ms,
        },
        504,
        "resolve-timeout",
        Kind::Failed,
      ),
      (
        Refusal::ConnectFailed {
          addr,
          reason: "connection refused".into(),
        },
        502,
        "connect-failed",
        Kind::Failed,
      ),
      (
        Refusal::ConnectTimeout { addr, limit: ms },
        504,
        "connect-timeout",
        Kind::Failed,
      ),
      (
        Refusal::UpstreamFailed { reason: "x".into() },
        502,
        "upstream-failed",
        Kind::Failed,
      ),
    ];
    for (refusal, status, rule, kind) in rows {
      assert_eq!(refusal.status(), status, "{refusal}");
      assert_eq!(refusal.rule(), rule);
      assert_eq!(refusal.kind(), kind);
      let expected_header = if status == 403 {
        DENIED_HEADER
      } else {
        ERROR_HEADER
      };
      assert_eq!(
        header(&refusal.response(false), expected_header),
        Some(rule)
      );
    }
    assert_eq!(
      Refusal::ConnectTimeout { addr, limit: ms }.to_string(),
      "connecting to 127.0.0.1:9 timed out after 5 ms"
    );
  }

  #[test]
  fn the_samples_cover_every_rule_the_proxy_sends() {
    let sent: Vec<_> = Refusal::one_of_each().iter().map(Refusal::rule).collect();
    for rule in ProxyRule::ALL {
      assert_eq!(
        sent.contains(&rule.code()),
        rule != ProxyRule::ClientClosed,
        "{}",
        rule.code()
      );
    }
  }

  #[test]
  fn a_per_minute_limit_says_when_to_come_back() {
    let refusal = Refusal::RateLimited {
      username: "site".into(),
      limit: RateLimit::PerMinute {
        limit: 60,
        retry_after: Duration::from_millis(1500),
      },
    };
    let response = refusal.response(false);
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, ERROR_HEADER), Some("rate-limited"));
    assert_eq!(header(&response, "retry-after"), Some("2"));
    assert_eq!(
      refusal.to_string(),
      "too many requests through the egress proxy for the credential \"site\": it may make 60 a \
       minute (maxRequestsPerMinute); the next is admitted in 1500 ms"
    );
  }

  #[test]
  fn no_auth_message_repeats_what_the_client_sent() {
    let refusal = Refusal::Auth(AuthFailure::Refused {
      username: "alice".into(),
    });
    assert!(!refusal.to_string().contains("alice"));
  }
}

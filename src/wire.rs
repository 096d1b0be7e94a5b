//! How the egress proxy tells its client about the answers it gives itself, so that they are never
//! taken for a destination's: the marker headers and the proxy's rule codes. The proxy writes them
//! (`proxy::refusal`) and the client reads them (`egress::client`); both use these definitions only.
//! The egress policy's own rule codes are [`Denial::rule`](crate::policy::Denial::rule).

/// On the proxy's 403 refusals: the policy rule (a [`Denial::rule`](crate::policy::Denial::rule)
/// code) or [`ProxyRule::OwnAddress`].
pub const DENIED_HEADER: &str = "x-egress-denied";
/// On every other answer the proxy gives itself: a [`ProxyRule`] code.
pub const ERROR_HEADER: &str = "x-egress-error";

/// Sent by the client to the proxy with every request and CONNECT: the most bytes the destination
/// may send on the connection (see [`max_bytes_from`]). The proxy cuts the connection past it, so
/// that what the client cannot bound itself (interim `1xx` responses without end, inside a TLS
/// tunnel or not) is bounded on the wire. A `proxy-*` header: never forwarded to a destination.
pub const MAX_BYTES_HEADER: &str = "proxy-egress-max-bytes";

/// Room for a response's head and interim responses beside its body.
const HEAD_ROOM: u64 = 1 << 20;
/// How many bytes on the wire one byte of body may take: chunked framing and TLS records of a
/// few bytes each cost several times their content.
const FRAMING: u64 = 8;

/// The bytes a destination may send for one response of at most `max_response_bytes` of body.
pub fn max_bytes_from(max_response_bytes: usize) -> u64 {
  (max_response_bytes as u64).saturating_mul(FRAMING) + HEAD_ROOM
}

/// Whether a response can carry the proxy's markers at all: only an answer to a request the
/// proxy itself received in the clear (a plain `http://` request). A response read through a
/// CONNECT tunnel (`https://`) is the destination's, end to end, whatever headers it has; the
/// proxy strips both markers from the responses it forwards.
pub fn may_carry_markers(scheme: &str) -> bool {
  scheme == "http"
}

/// The proxy's own reasons for answering a request itself, beside the policy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyRule {
  /// Missing, malformed or refused credentials (407).
  ProxyAuth,
  /// The destination is the proxy's own address (403).
  OwnAddress,
  /// The client holds too many upstream connections (429).
  TunnelLimit,
  /// The credential used its `maxRequestsPerMinute` or `maxConcurrent` (429).
  RateLimited,
  /// Not a forward-proxy request the proxy can serve, or not valid HTTP/1.1 (400).
  BadRequest,
  /// The request line and headers are larger than `maxHeaderBytes` (431).
  HeaderTooLarge,
  /// The destination's name does not resolve (502).
  ResolveFailed,
  /// The destination's name did not resolve in time (504).
  ResolveTimeout,
  /// No checked address accepted a connection (502).
  ConnectFailed,
  /// The connection was not established in time (504).
  ConnectTimeout,
  /// The destination gave no usable response (502).
  UpstreamFailed,
  /// Never sent: the rule of a decision whose client went away before it was answered.
  ClientClosed,
}

impl ProxyRule {
  pub const ALL: [ProxyRule; 12] = [
    ProxyRule::ProxyAuth,
    ProxyRule::OwnAddress,
    ProxyRule::TunnelLimit,
    ProxyRule::RateLimited,
    ProxyRule::BadRequest,
    ProxyRule::HeaderTooLarge,
    ProxyRule::ResolveFailed,
    ProxyRule::ResolveTimeout,
    ProxyRule::ConnectFailed,
    ProxyRule::ConnectTimeout,
    ProxyRule::UpstreamFailed,
    ProxyRule::ClientClosed,
  ];

  /// The stable code, as sent in [`ERROR_HEADER`] and reported in decisions.
  pub fn code(self) -> &'static str {
    match self {
      ProxyRule::ProxyAuth => "proxy-auth",
      ProxyRule::OwnAddress => "own-address",
      ProxyRule::TunnelLimit => "tunnel-limit",
      ProxyRule::RateLimited => "rate-limited",
      ProxyRule::BadRequest => "bad-request",
      ProxyRule::HeaderTooLarge => "header-too-large",
      ProxyRule::ResolveFailed => "resolve-failed",
      ProxyRule::ResolveTimeout => "resolve-timeout",
      ProxyRule::ConnectFailed => "connect-failed",
      ProxyRule::ConnectTimeout => "connect-timeout",
      ProxyRule::UpstreamFailed => "upstream-failed",
      ProxyRule::ClientClosed => "client-closed",
    }
  }

  pub fn from_code(code: &str) -> Option<ProxyRule> {
    ProxyRule::ALL.into_iter().find(|r| r.code() == code)
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::policy::Denial;

  #[test]
  fn every_code_reads_back_as_its_rule_and_none_is_also_a_policy_code() {
    for rule in ProxyRule::ALL {
      assert_eq!(ProxyRule::from_code(rule.code()), Some(rule));
      assert!(!Denial::RULES.contains(&rule.code()), "{}", rule.code());
    }
    assert_eq!(ProxyRule::from_code("blocked-address"), None);
  }
}

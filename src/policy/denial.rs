//! Why a destination was refused: a value carrying its reason.

use super::addr::SpecialRange;
use super::host::HostRule;
use ipnet::IpNet;
use std::net::IpAddr;

/// A refused destination, with the rule that refused it.
///
/// `Display` explains it in plain words. No message ever contains the
/// user name or password of a URL: those are refused before anything else
/// about the URL is reported, and parse errors never echo their input.
///
/// [`Denial::rule`] gives a stable short code, one of [`Denial::RULES`]:
///
/// | code | meaning |
/// |---|---|
/// | `invalid-url` | not a URL the WHATWG parser accepts |
/// | `invalid-authority` | not a `host:port` authority |
/// | `scheme` | a scheme other than `http:` or `https:` |
/// | `userinfo` | a user name, password or `@` in the authority |
/// | `blocked-host` | a host name the built-in rules refuse (`localhost`, `*.internal`, …) |
/// | `denied-host` | a host name matched by a configured `deniedHosts` entry |
/// | `not-allowed-host` | a host not matched by any entry of a configured `allowedHosts` list |
/// | `blocked-address` | an address in a built-in special-purpose range not lifted by `allowedRanges` |
/// | `denied-address` | an address in a configured `deniedRanges` entry |
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
  #[error("not a valid URL: {0}")]
  InvalidUrl(url::ParseError),
  #[error("not a valid host:port authority: {reason}")]
  InvalidAuthority { reason: String },
  #[error("scheme \"{scheme}:\" is not allowed: only http: and https: URLs can be requested")]
  Scheme { scheme: String },
  #[error(
    "URLs with a user name or password (user:pass@host) are not allowed: \
         send credentials in a header instead"
  )]
  Userinfo,
  #[error("host \"{host}\" is blocked: {rule}")]
  BlockedHost {
    host: String,
    rule: &'static HostRule,
  },
  #[error("host \"{host}\" is denied by the deniedHosts entry \"{pattern}\"")]
  DeniedHost { host: String, pattern: String },
  /// An allowlist is configured and the host (a name, or an address literal) is not on it.
  #[error("host \"{host}\" is not in allowedHosts: only the names listed there may be reached")]
  NotAllowedHost { host: String },
  #[error("destination {ip} is blocked: {range}")]
  BlockedAddress {
    ip: IpAddr,
    range: &'static SpecialRange,
  },
  #[error("destination {ip} is denied by the deniedRanges entry {range}")]
  DeniedAddress { ip: IpAddr, range: IpNet },
}

impl Denial {
  /// Every code [`Denial::rule`] can return.
  pub const RULES: [&'static str; 9] = [
    "invalid-url",
    "invalid-authority",
    "scheme",
    "userinfo",
    "blocked-host",
    "denied-host",
    "not-allowed-host",
    "blocked-address",
    "denied-address",
  ];

  /// Whether the URL itself is at fault (not a URL, not http(s), credentials in it) rather than
  /// where it leads.
  pub fn is_malformed(&self) -> bool {
    matches!(
      self,
      Denial::InvalidUrl(_)
        | Denial::InvalidAuthority { .. }
        | Denial::Scheme { .. }
        | Denial::Userinfo
    )
  }

  /// The stable short code of the rule that refused the destination.
  pub fn rule(&self) -> &'static str {
    match self {
      Denial::InvalidUrl(_) => "invalid-url",
      Denial::InvalidAuthority { .. } => "invalid-authority",
      Denial::Scheme { .. } => "scheme",
      Denial::Userinfo => "userinfo",
      Denial::BlockedHost { .. } => "blocked-host",
      Denial::DeniedHost { .. } => "denied-host",
      Denial::NotAllowedHost { .. } => "not-allowed-host",
      Denial::BlockedAddress { .. } => "blocked-address",
      Denial::DeniedAddress { .. } => "denied-address",
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::policy::addr::classify_addr;
  use crate::policy::host::classify_host;

  #[test]
  fn every_denial_has_a_listed_rule_code() {
    let denials = [
      Denial::InvalidUrl(url::ParseError::EmptyHost),
      Denial::InvalidAuthority {
        reason: "missing port".into(),
      },
      Denial::Scheme {
        scheme: "ftp".into(),
      },
      Denial::Userinfo,
      Denial::BlockedHost {
        host: "localhost".into(),
        rule: classify_host("localhost").unwrap(),
      },
      Denial::DeniedHost {
        host: "a.example".into(),
        pattern: "a.example".into(),
      },
      Denial::NotAllowedHost {
        host: "b.example".into(),
      },
      Denial::BlockedAddress {
        ip: "10.0.0.1".parse().unwrap(),
        range: classify_addr("10.0.0.1".parse().unwrap()).unwrap(),
      },
      Denial::DeniedAddress {
        ip: "8.8.8.8".parse().unwrap(),
        range: "8.8.8.0/24".parse().unwrap(),
      },
    ];
    let codes: Vec<_> = denials.iter().map(Denial::rule).collect();
    assert_eq!(codes, Denial::RULES);
  }

  #[test]
  fn a_denied_address_names_the_configured_entry() {
    let denial = Denial::DeniedAddress {
      ip: "8.8.8.8".parse().unwrap(),
      range: "8.8.8.0/24".parse().unwrap(),
    };
    assert_eq!(
      denial.to_string(),
      "destination 8.8.8.8 is denied by the deniedRanges entry 8.8.8.0/24"
    );
  }
}

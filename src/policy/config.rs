//! Building an [`EgressPolicy`] from its configured lists, validated once.

use super::host::{normalize, HostPattern};
use super::EgressPolicy;
use ipnet::IpNet;
use std::net::IpAddr;
use url::Host;

/// A configured list entry that cannot be used; the message names the list,
/// the index and the entry, and how to write it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
  #[error(
    "{field}[{index}] is not a CIDR range: {entry:?} \
         (write a range like \"10.0.0.0/8\" or \"::1/128\", or a single address)"
  )]
  InvalidRange {
    field: &'static str,
    index: usize,
    entry: String,
  },
  #[error(
    "{field}[{index}] has address bits set past its prefix length: {entry:?} \
         (did you mean \"{network}\"?)"
  )]
  RangeNotNetwork {
    field: &'static str,
    index: usize,
    entry: String,
    network: IpNet,
  },
  #[error("{field}[{index}] is not a host name or a \"*.domain\" pattern: {entry:?} ({reason})")]
  InvalidHostPattern {
    field: &'static str,
    index: usize,
    entry: String,
    reason: String,
  },
}

impl EgressPolicy {
  /// Builds a policy from the built-in rules plus the configured lists.
  ///
  /// - `allowed_ranges`: CIDR ranges whose addresses the built-in address
  ///   rules no longer block, e.g. `127.0.0.0/8` for tests that reach a local
  ///   server. Host-name rules still apply: use `http://127.0.0.1:port/`,
  ///   not `http://localhost:port/`.
  /// - `denied_ranges`: CIDR ranges refused on top of the built-in ones;
  ///   they win over `allowed_ranges`.
  /// - `denied_hosts`: names refused on top of the built-in ones. `api.evil.example`
  ///   is that name only; `*.corp.example` is `corp.example` and every name
  ///   under it. Case, IDNA and trailing dots are normalized as in URLs.
  ///
  /// A range entry may be a bare address, meaning that address only (/32 or
  /// /128). A range with bits set past its prefix (`10.0.0.1/8`) is refused
  /// as a likely typo.
  pub fn new(
    allowed_ranges: &[String],
    denied_ranges: &[String],
    denied_hosts: &[String],
  ) -> Result<Self, PolicyError> {
    Ok(EgressPolicy {
      allowed_ranges: parse_ranges("allowedRanges", allowed_ranges)?,
      denied_ranges: parse_ranges("deniedRanges", denied_ranges)?,
      denied_hosts: parse_host_patterns("deniedHosts", denied_hosts)?,
      allowed_hosts: Vec::new(),
    })
  }

  /// This policy narrowed by the lists of one client (the proxy's per-credential policy):
  /// `denied_ranges` and `denied_hosts` are added to this policy's, and with `allowed_hosts` only
  /// a host name that one of its entries matches passes at all (an address literal never does).
  /// Nothing is lifted: the result refuses everything `self` refuses, by the same rules.
  pub fn narrowed(
    &self,
    allowed_hosts: Option<&[String]>,
    denied_ranges: &[String],
    denied_hosts: &[String],
  ) -> Result<Self, PolicyError> {
    let mut narrowed = self.clone();
    narrowed
      .denied_ranges
      .extend(parse_ranges("deniedRanges", denied_ranges)?);
    narrowed
      .denied_hosts
      .extend(parse_host_patterns("deniedHosts", denied_hosts)?);
    if let Some(allowed) = allowed_hosts {
      narrowed
        .allowed_hosts
        .push(parse_host_patterns("allowedHosts", allowed)?);
    }
    Ok(narrowed)
  }
}

fn parse_host_patterns(
  field: &'static str,
  entries: &[String],
) -> Result<Vec<HostPattern>, PolicyError> {
  entries
    .iter()
    .enumerate()
    .map(|(index, entry)| parse_host_pattern(field, index, entry))
    .collect()
}

fn parse_ranges(field: &'static str, entries: &[String]) -> Result<Vec<IpNet>, PolicyError> {
  entries
    .iter()
    .enumerate()
    .map(|(index, entry)| parse_range(field, index, entry))
    .collect()
}

fn parse_range(field: &'static str, index: usize, entry: &str) -> Result<IpNet, PolicyError> {
  if let Ok(range) = entry.parse::<IpNet>() {
    if range != range.trunc() {
      return Err(PolicyError::RangeNotNetwork {
        field,
        index,
        entry: entry.to_owned(),
        network: range.trunc(),
      });
    }
    return Ok(range);
  }
  if let Ok(ip) = entry.parse::<IpAddr>() {
    return Ok(IpNet::from(ip));
  }
  Err(PolicyError::InvalidRange {
    field,
    index,
    entry: entry.to_owned(),
  })
}

fn parse_host_pattern(
  field: &'static str,
  index: usize,
  entry: &str,
) -> Result<HostPattern, PolicyError> {
  let invalid = |reason: &str| PolicyError::InvalidHostPattern {
    field,
    index,
    entry: entry.to_owned(),
    reason: reason.to_owned(),
  };
  let (name, subtree) = match entry.strip_prefix("*.") {
    Some(domain) => (domain, true),
    None => (entry, false),
  };
  if name.contains('*') {
    return Err(invalid("a wildcard may only be a leading \"*.\""));
  }
  // The same host parser as URLs, so the pattern is written the way hosts arrive.
  let name = match Host::parse(name).map_err(|err| invalid(&err.to_string()))? {
    Host::Domain(name) => name,
    Host::Ipv4(_) | Host::Ipv6(_) => {
      return Err(invalid(if field == "deniedHosts" {
        "it is an IP address; list it in deniedRanges"
      } else {
        "it is an IP address; only host names can be listed"
      }))
    }
  };
  let name = normalize(&name);
  if name.is_empty() || name.split('.').any(str::is_empty) {
    return Err(invalid("it has an empty label"));
  }
  Ok(if subtree {
    HostPattern::Subtree(name.to_owned())
  } else {
    HostPattern::Exact(name.to_owned())
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn strings(entries: &[&str]) -> Vec<String> {
    entries.iter().map(|s| s.to_string()).collect()
  }

  fn allowed(entries: &[&str]) -> Result<EgressPolicy, PolicyError> {
    EgressPolicy::new(&strings(entries), &[], &[])
  }

  fn denied_hosts(entries: &[&str]) -> Result<EgressPolicy, PolicyError> {
    EgressPolicy::new(&[], &[], &strings(entries))
  }

  #[test]
  fn the_default_policy_has_no_configured_entries() {
    assert_eq!(
      EgressPolicy::new(&[], &[], &[]).unwrap(),
      EgressPolicy::default()
    );
  }

  #[test]
  fn ranges_and_bare_addresses_are_accepted() {
    let policy = allowed(&["127.0.0.0/8", "::1/128", "10.1.2.3", "fd00::1"]).unwrap();
    let expected: Vec<IpNet> = ["127.0.0.0/8", "::1/128", "10.1.2.3/32", "fd00::1/128"]
      .iter()
      .map(|s| s.parse().unwrap())
      .collect();
    assert_eq!(policy.allowed_ranges, expected);
  }

  #[test]
  fn an_invalid_range_is_named_by_list_and_index() {
    let err = allowed(&["127.0.0.0/8", "10.0.0.0/33"]).unwrap_err();
    assert!(
      err
        .to_string()
        .starts_with("allowedRanges[1] is not a CIDR range: \"10.0.0.0/33\""),
      "{err}"
    );
    let err = EgressPolicy::new(&[], &strings(&["nope"]), &[]).unwrap_err();
    assert!(
      err
        .to_string()
        .starts_with("deniedRanges[0] is not a CIDR range: \"nope\""),
      "{err}"
    );
  }

  #[test]
  fn ranges_in_loose_spellings_are_refused() {
    for entry in [
      "",
      " 10.0.0.0/8",
      "10.0.0.0/8 ",
      "127.1",
      "0177.0.0.1",
      "0x7f000001",
      "2130706433",
      "localhost",
      "10.0.0.0/",
      "/8",
      "::1/129",
      "[::1]",
      "10.0.0.0/8,11.0.0.0/8",
    ] {
      let err = allowed(&[entry]).unwrap_err();
      assert!(
        matches!(err, PolicyError::InvalidRange { index: 0, .. }),
        "{entry:?}: {err}"
      );
    }
  }

  #[test]
  fn a_range_with_host_bits_set_suggests_its_network() {
    let err = allowed(&["10.0.0.1/8"]).unwrap_err();
    assert_eq!(
      err.to_string(),
      "allowedRanges[0] has address bits set past its prefix length: \"10.0.0.1/8\" \
             (did you mean \"10.0.0.0/8\"?)"
    );
  }

  #[test]
  fn host_patterns_are_normalized_like_url_hosts() {
    let policy =
      denied_hosts(&["API.Evil.Example.", "*.Corp.Example", "*.bücher.example"]).unwrap();
    assert_eq!(
      policy.denied_hosts,
      vec![
        HostPattern::Exact("api.evil.example".into()),
        HostPattern::Subtree("corp.example".into()),
        HostPattern::Subtree("xn--bcher-kva.example".into()),
      ]
    );
  }

  #[test]
  fn invalid_host_patterns_are_refused_with_a_reason() {
    for entry in [
      "",
      "*",
      "*.",
      "**.example",
      "a.*.example",
      "api.*",
      "ex ample.com",
      "a..b",
      ".",
      "10.0.0.1",
      "[::1]",
      "example.com/path",
    ] {
      let err = denied_hosts(&[entry]).unwrap_err();
      assert!(
        matches!(err, PolicyError::InvalidHostPattern { index: 0, .. }),
        "{entry:?}: {err}"
      );
    }
    assert_eq!(
      denied_hosts(&["ok.example", "10.0.0.1"])
        .unwrap_err()
        .to_string(),
      "deniedHosts[1] is not a host name or a \"*.domain\" pattern: \"10.0.0.1\" \
             (it is an IP address; list it in deniedRanges)"
    );
  }
}

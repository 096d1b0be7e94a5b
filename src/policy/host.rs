//! Host-name rules: the built-in blocked names and configured `deniedHosts` patterns.
//!
//! Names reach these rules as the URL parser left them: ASCII, lowercase,
//! IDNA-encoded (`xn--…`). Trailing dots are removed first, so `localhost.`
//! and `localhost` are the same name.

use std::fmt;

/// One built-in host-name rule: why a name is not a public destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostRule {
  /// Short category, e.g. `"localhost"`, `"single-label"`, `"internal"`.
  pub name: &'static str,
  /// Why, in words, e.g. `"names under .internal are internal"`.
  pub description: &'static str,
}

impl fmt::Display for HostRule {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(self.description)
  }
}

const EMPTY_LABEL: HostRule = HostRule {
  name: "empty-label",
  description: "a name with an empty label (\"a..b\") is not a valid DNS name",
};

const LOCALHOST: HostRule = HostRule {
  name: "localhost",
  description: "localhost names refer to this machine",
};

const SINGLE_LABEL: HostRule = HostRule {
  name: "single-label",
  description: "names without a dot are resolved through local search domains",
};

/// Suffixes whose names and subdomains are never public, each with its rule.
/// RFC 6762 reserves `.local` for mDNS, ICANN reserved `.internal` (2024),
/// RFC 8375 reserves `.home.arpa`; `.localdomain` is the traditional
/// /etc/hosts domain, and the rest are the private-use names RFC 6762
/// Appendix G lists, none of which is delegated in the public DNS.
#[rustfmt::skip]
const PRIVATE_SUFFIXES: &[(&str, HostRule)] = &[
    ("local", HostRule { name: "local", description: "names under .local are multicast DNS names on the local network" }),
    ("internal", HostRule { name: "internal", description: "names under .internal are internal" }),
    ("home.arpa", HostRule { name: "home-arpa", description: "names under .home.arpa are home network names" }),
    ("localdomain", HostRule { name: "localdomain", description: "names under .localdomain refer to this machine or its network" }),
    ("intranet", HostRule { name: "private-tld", description: "names under .intranet are private-use names" }),
    ("private", HostRule { name: "private-tld", description: "names under .private are private-use names" }),
    ("corp", HostRule { name: "private-tld", description: "names under .corp are private-use names" }),
    ("home", HostRule { name: "private-tld", description: "names under .home are private-use names" }),
    ("lan", HostRule { name: "private-tld", description: "names under .lan are private-use names" }),
];

/// Removes every trailing dot: `example.com.` and `example.com..` name
/// `example.com` for these rules.
pub(crate) fn normalize(name: &str) -> &str {
  name.trim_end_matches('.')
}

/// Judges a domain name with the built-in rules; `None` means it may be public.
///
/// In this order: malformed names, `localhost` and its subdomains,
/// single-label names, then the private suffixes.
pub fn classify_host(name: &str) -> Option<&'static HostRule> {
  let name = normalize(name);
  if name.is_empty() || name.split('.').any(str::is_empty) {
    return Some(&EMPTY_LABEL);
  }
  if is_same_or_subdomain(name, "localhost") {
    return Some(&LOCALHOST);
  }
  if !name.contains('.') {
    return Some(&SINGLE_LABEL);
  }
  PRIVATE_SUFFIXES
    .iter()
    .find(|(suffix, _)| is_same_or_subdomain(name, suffix))
    .map(|(_, rule)| rule)
}

/// `name` is `domain` or ends in `.domain`.
fn is_same_or_subdomain(name: &str, domain: &str) -> bool {
  name
    .strip_suffix(domain)
    .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

/// A configured `deniedHosts` entry, already normalized (lowercase, IDNA, no trailing dot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostPattern {
  /// `api.evil.example`: that name only.
  Exact(String),
  /// `*.corp.example`: `corp.example` itself and every name under it.
  Subtree(String),
}

impl HostPattern {
  pub(crate) fn matches(&self, name: &str) -> bool {
    let name = normalize(name);
    match self {
      HostPattern::Exact(exact) => name == exact,
      HostPattern::Subtree(domain) => is_same_or_subdomain(name, domain),
    }
  }
}

impl fmt::Display for HostPattern {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      HostPattern::Exact(name) => f.write_str(name),
      HostPattern::Subtree(domain) => write!(f, "*.{domain}"),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn rule_of(name: &str) -> Option<&'static str> {
    classify_host(name).map(|rule| rule.name)
  }

  #[test]
  fn localhost_and_its_subdomains_are_blocked_with_or_without_trailing_dots() {
    for name in [
      "localhost",
      "localhost.",
      "localhost..",
      "app.localhost",
      "a.b.localhost.",
    ] {
      assert_eq!(rule_of(name), Some("localhost"), "{name}");
    }
  }

  #[test]
  fn names_that_merely_contain_localhost_are_not_localhost() {
    assert_eq!(rule_of("notlocalhost.com"), None);
    assert_eq!(rule_of("localhost.com"), None);
    assert_eq!(rule_of("mylocalhost"), Some("single-label"));
  }

  #[test]
  fn single_label_names_are_blocked() {
    for name in ["intranet", "printer.", "com", "xn--bcher-kva"] {
      assert_eq!(rule_of(name), Some("single-label"), "{name}");
    }
  }

  #[test]
  fn names_with_empty_labels_are_blocked() {
    for name in ["", ".", "a..b", ".example.com"] {
      assert_eq!(rule_of(name), Some("empty-label"), "{name:?}");
    }
  }

  #[test]
  fn private_suffixes_block_the_name_and_every_subdomain() {
    let rows = [
      ("printer.local", "local"),
      ("printer.local.", "local"),
      ("metadata.google.internal", "internal"),
      ("metadata.google.internal.", "internal"),
      ("home.arpa", "home-arpa"),
      ("nas.home.arpa", "home-arpa"),
      ("localhost.localdomain", "localdomain"),
      ("db.localdomain", "localdomain"),
      ("wiki.intranet", "private-tld"),
      ("vault.corp", "private-tld"),
      ("router.lan", "private-tld"),
      ("nas.home", "private-tld"),
      ("x.private", "private-tld"),
    ];
    for (name, rule) in rows {
      assert_eq!(rule_of(name), Some(rule), "{name}");
    }
  }

  #[test]
  fn public_names_that_end_like_private_suffixes_are_allowed() {
    for name in [
      "example.com",
      "example.com.",
      "notlocal.com",
      "international.org",
      "myhome.arpa",
      "lan.example.com",
      "local.example.com",
    ] {
      assert_eq!(rule_of(name), None, "{name}");
    }
  }

  #[test]
  fn a_blocked_name_explains_itself() {
    assert_eq!(
      classify_host("metadata.google.internal")
        .unwrap()
        .to_string(),
      "names under .internal are internal"
    );
  }

  #[test]
  fn an_exact_pattern_matches_only_that_name() {
    let pattern = HostPattern::Exact("api.evil.example".into());
    assert!(pattern.matches("api.evil.example"));
    assert!(pattern.matches("api.evil.example."));
    assert!(!pattern.matches("v2.api.evil.example"));
    assert!(!pattern.matches("evil.example"));
    assert!(!pattern.matches("xapi.evil.example"));
  }

  #[test]
  fn a_wildcard_pattern_matches_the_domain_and_every_subdomain() {
    let pattern = HostPattern::Subtree("corp.example".into());
    assert!(pattern.matches("corp.example"));
    assert!(pattern.matches("corp.example."));
    assert!(pattern.matches("git.corp.example"));
    assert!(pattern.matches("a.b.corp.example"));
    assert!(!pattern.matches("notcorp.example"));
    assert!(!pattern.matches("corp.example.com"));
    assert_eq!(pattern.to_string(), "*.corp.example");
  }
}

//! Where scripts may send HTTP requests: a pure URL, host-name and IP policy.
//!
//! No I/O and no DNS: callers resolve names themselves and judge every
//! address with [`EgressPolicy::check_addr`].

mod addr;
mod config;
mod denial;
mod host;
mod target;

pub use addr::{classify_addr, SpecialRange};
pub use config::PolicyError;
pub use denial::Denial;
pub use host::{classify_host, HostRule};
pub use target::{Target, TargetHost};

use host::{normalize as normalize_name, HostPattern};
use ipnet::IpNet;
use std::net::IpAddr;
use url::Url;

/// The egress policy: which destinations a script's HTTP requests may reach.
///
/// One policy is used everywhere a destination is decided: by the script's
/// HTTP client before it sends a request and again on every redirect hop,
/// and by the package's egress proxy at connect time, for the requested
/// authority and for every address the name resolves to, including the
/// address actually connected to.
///
/// Rules apply in this order; the first that refuses gives the [`Denial`]:
/// 1. the URL parses (WHATWG), its scheme is `http:`/`https:`, and it has no userinfo;
/// 2. a host name passes the built-in name rules ([`classify_host`]), which
///    `allowed_ranges` never lifts, then the configured `denied_hosts`;
/// 3. an address (literal, or resolved) is not in `denied_ranges`, then not
///    in a built-in special-purpose range ([`classify_addr`]) unless it is in
///    `allowed_ranges`;
/// 4. when the policy was [narrowed](Self::narrowed) with `allowedHosts`, the host is a
///    name that list matches (an address literal never is).
///
/// `Default` is the built-in rules alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressPolicy {
  allowed_ranges: Vec<IpNet>,
  denied_ranges: Vec<IpNet>,
  denied_hosts: Vec<HostPattern>,
  /// Allowlists a host must pass, each of them; none means every host the rules above allow.
  allowed_hosts: Vec<Vec<HostPattern>>,
}

impl EgressPolicy {
  /// Parses and judges a URL a script asked for: scheme, userinfo, host-name
  /// rules, and the address when the host is an IP literal. A domain still
  /// needs each of its resolved addresses judged with [`Self::check_addr`].
  pub fn check_url(&self, url: &str) -> Result<Target, Denial> {
    let target = target::parse_url(url)?;
    self.check_host(&target.host)?;
    Ok(target)
  }

  /// Judges an already parsed URL, such as a redirect's `Location`, like [`Self::check_url`].
  pub fn check_parsed_url(&self, url: &Url) -> Result<Target, Denial> {
    let target = target::url_target(url)?;
    self.check_host(&target.host)?;
    Ok(target)
  }

  /// Judges a `host:port` authority as a proxy sees it in a CONNECT request;
  /// the port is required. For an absolute-form request (`GET http://…`),
  /// judge the request target with [`Self::check_url`] instead.
  pub fn check_authority(&self, authority: &str) -> Result<Target, Denial> {
    let target = target::parse_authority(authority)?;
    self.check_host(&target.host)?;
    Ok(target)
  }

  /// Judges one address: a literal from a URL, each address DNS returned,
  /// and the address actually connected to.
  ///
  /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is also judged as the
  /// IPv4 address it leads to, so no configured range can be sidestepped
  /// by that spelling; the built-in rules block the mapped range anyway.
  pub fn check_addr(&self, ip: IpAddr) -> Result<(), Denial> {
    let canonical = ip.to_canonical();
    let forms = || std::iter::once(ip).chain((canonical != ip).then_some(canonical));

    // Denied ranges first: an operator's denial wins over an allowance.
    for form in forms() {
      if let Some(range) = self.denied_ranges.iter().find(|r| r.contains(&form)) {
        return Err(Denial::DeniedAddress { ip, range: *range });
      }
    }
    for form in forms() {
      if let Some(range) = classify_addr(form) {
        if !self.allowed_ranges.iter().any(|r| r.contains(&form)) {
          return Err(Denial::BlockedAddress { ip, range });
        }
      }
    }
    Ok(())
  }

  fn check_host(&self, host: &TargetHost) -> Result<(), Denial> {
    let name = match host {
      TargetHost::Ip(ip) => {
        self.check_addr(*ip)?;
        if !self.allowed_hosts.is_empty() {
          return Err(Denial::NotAllowedHost {
            host: ip.to_string(),
          });
        }
        return Ok(());
      }
      TargetHost::Domain(name) => name,
    };
    if let Some(rule) = classify_host(name) {
      return Err(Denial::BlockedHost {
        host: name.clone(),
        rule,
      });
    }
    if let Some(pattern) = self.denied_hosts.iter().find(|p| p.matches(name)) {
      return Err(Denial::DeniedHost {
        host: name.clone(),
        pattern: pattern.to_string(),
      });
    }
    if !self
      .allowed_hosts
      .iter()
      .all(|list| list.iter().any(|p| p.matches(name)))
    {
      return Err(Denial::NotAllowedHost {
        host: normalize_name(name).to_owned(),
      });
    }
    Ok(())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn policy(allowed: &[&str], denied: &[&str], hosts: &[&str]) -> EgressPolicy {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    EgressPolicy::new(&strings(allowed), &strings(denied), &strings(hosts)).unwrap()
  }

  fn rule(result: Result<impl std::fmt::Debug, Denial>) -> &'static str {
    match result {
      Ok(_) => "allowed",
      Err(denial) => denial.rule(),
    }
  }

  fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
  }

  #[test]
  fn the_policy_can_be_shared_across_threads() {
    fn assert_shareable<T: Clone + std::fmt::Debug + Send + Sync>() {}
    assert_shareable::<EgressPolicy>();
    assert_shareable::<Denial>();
  }

  #[test]
  fn every_spelling_of_loopback_or_metadata_is_blocked_as_its_address() {
    let rows = [
      ("http://127.0.0.1/", "127.0.0.1"),
      ("http://2130706433/", "127.0.0.1"),
      ("http://0177.0.0.1/", "127.0.0.1"),
      ("http://0x7f.1/", "127.0.0.1"),
      ("http://127.1/", "127.0.0.1"),
      ("http://127.0.0.1./", "127.0.0.1"),
      ("http://%31%32%37.0.0.1/", "127.0.0.1"),
      ("http://１２７.０.０.１/", "127.0.0.1"),
      ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
      ("http://[0:0:0:0:0:ffff:7f00:1]/", "::ffff:127.0.0.1"),
      ("http://[::1]/", "::1"),
      ("http://[::127.0.0.1]/", "::7f00:1"),
      ("http://0/", "0.0.0.0"),
      ("http://[::]/", "::"),
      (
        "http://169.254.169.254/latest/meta-data/",
        "169.254.169.254",
      ),
      ("http://0251.0376.0251.0376/", "169.254.169.254"),
      ("http://0xa9fea9fe/", "169.254.169.254"),
      ("http://[fd00:ec2::254]/", "fd00:ec2::254"),
      ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254"),
      ("http://10.0.0.1:8080/", "10.0.0.1"),
      ("https://192.168.1.1/", "192.168.1.1"),
    ];
    let policy = EgressPolicy::default();
    for (url, blocked) in rows {
      match policy.check_url(url) {
        Err(Denial::BlockedAddress { ip: got, .. }) => {
          assert_eq!(got, ip(blocked), "{url}")
        }
        other => panic!("{url}: expected a blocked address, got {other:?}"),
      }
    }
  }

  #[test]
  fn blocked_host_names_are_refused_in_any_case_and_with_trailing_dots() {
    let policy = EgressPolicy::default();
    for url in [
      "http://localhost/",
      "http://LOCALHOST/",
      "http://LocalHost.:3000/",
      "http://ｌｏｃａｌｈｏｓｔ/",
      "http://localhost%2e/",
      "http://app.localhost/",
      "http://printer.local/",
      "http://metadata.google.internal/computeMetadata/v1/",
      "http://METADATA.GOOGLE.INTERNAL./",
      "http://nas.home.arpa/",
      "http://intranet/",
      "http://intranet./",
    ] {
      assert_eq!(rule(policy.check_url(url)), "blocked-host", "{url}");
    }
  }

  #[test]
  fn public_destinations_are_allowed() {
    let policy = EgressPolicy::default();
    for url in [
      "http://example.com/",
      "https://example.com:8443/path?q=1",
      "https://api.example.com./",
      "http://8.8.8.8/",
      "https://1.1.1.1/dns-query",
      "http://[2606:4700:4700::1111]/",
      "https://bücher.example/",
    ] {
      assert_eq!(rule(policy.check_url(url)), "allowed", "{url}");
    }
    for addr in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
      assert_eq!(policy.check_addr(ip(addr)), Ok(()), "{addr}");
    }
  }

  #[test]
  fn denials_explain_themselves_in_plain_words() {
    let policy = EgressPolicy::default();
    assert_eq!(
      policy
        .check_addr(ip("169.254.169.254"))
        .unwrap_err()
        .to_string(),
      "destination 169.254.169.254 is blocked: link-local address (169.254.0.0/16), \
             which includes cloud metadata endpoints"
    );
    assert_eq!(
      policy
        .check_url("http://metadata.google.internal/")
        .unwrap_err()
        .to_string(),
      "host \"metadata.google.internal\" is blocked: names under .internal are internal"
    );
  }

  #[test]
  fn no_denial_message_repeats_the_credentials_of_a_url() {
    let policy = EgressPolicy::default();
    for url in [
      "http://alice:s3cret@example.com/",
      "http://alice:s3cret@localhost/",
      "http://alice:s3cret@[::1/",
      "http://alice:s3cret@example.com:99999/",
      "ftp://alice:s3cret@example.com/",
      "http://alice:s3cret@/",
    ] {
      let message = policy.check_url(url).unwrap_err().to_string();
      assert!(
        !message.contains("s3cret") && !message.contains("alice"),
        "{url}: {message}"
      );
    }
  }

  #[test]
  fn userinfo_is_refused_before_the_host_is_judged() {
    let policy = EgressPolicy::default();
    assert_eq!(
      rule(policy.check_url("http://user:pass@localhost/")),
      "userinfo"
    );
    assert_eq!(rule(policy.check_url("http://@example.com/")), "userinfo");
  }

  #[test]
  fn allowed_ranges_lift_the_address_block_for_those_addresses_only() {
    let policy = policy(&["127.0.0.0/8", "::1/128"], &[], &[]);
    assert_eq!(rule(policy.check_url("http://127.0.0.1:3000/")), "allowed");
    assert_eq!(rule(policy.check_url("http://127.1:3000/")), "allowed");
    assert_eq!(rule(policy.check_url("http://[::1]:3000/")), "allowed");
    assert_eq!(policy.check_addr(ip("127.255.255.255")), Ok(()));
    assert_eq!(
      rule(policy.check_url("http://10.0.0.1/")),
      "blocked-address"
    );
    assert_eq!(rule(policy.check_url("http://[::2]/")), "blocked-address");
    assert_eq!(
      rule(policy.check_addr(ip("169.254.169.254"))),
      "blocked-address"
    );
  }

  #[test]
  fn allowed_ranges_do_not_lift_the_localhost_name_rule() {
    let policy = policy(&["127.0.0.0/8"], &[], &[]);
    assert_eq!(
      rule(policy.check_url("http://localhost:3000/")),
      "blocked-host"
    );
    assert_eq!(
      rule(policy.check_authority("localhost:3000")),
      "blocked-host"
    );
  }

  #[test]
  fn allowing_ipv4_loopback_does_not_allow_its_ipv4_mapped_spelling() {
    let policy = policy(&["127.0.0.0/8"], &[], &[]);
    let denial = policy.check_url("http://[::ffff:127.0.0.1]/").unwrap_err();
    assert!(
      matches!(&denial, Denial::BlockedAddress { range, .. } if range.name == "ipv4-mapped"),
      "{denial}"
    );
  }

  #[test]
  fn a_mapped_address_is_judged_as_its_ipv4_address_even_when_mapped_is_allowed() {
    let policy = policy(&["::ffff:0:0/96"], &["8.8.8.0/24"], &[]);
    assert_eq!(
      rule(policy.check_url("http://[::ffff:1.1.1.1]/")),
      "allowed"
    );
    assert_eq!(
      rule(policy.check_url("http://[::ffff:8.8.8.8]/")),
      "denied-address"
    );
    let denial = policy.check_url("http://[::ffff:127.0.0.1]/").unwrap_err();
    assert!(
      matches!(&denial, Denial::BlockedAddress { range, .. } if range.name == "loopback"),
      "{denial}"
    );
  }

  #[test]
  fn a_bare_allowed_address_allows_that_address_only() {
    let policy = policy(&["127.0.0.1"], &[], &[]);
    assert_eq!(policy.check_addr(ip("127.0.0.1")), Ok(()));
    assert_eq!(rule(policy.check_addr(ip("127.0.0.2"))), "blocked-address");
  }

  #[test]
  fn denied_ranges_add_to_the_built_in_block() {
    let policy = policy(&[], &["203.0.114.0/24", "2606:4700::/32"], &[]);
    assert_eq!(
      rule(policy.check_addr(ip("203.0.113.255"))),
      "blocked-address"
    );
    assert_eq!(rule(policy.check_addr(ip("203.0.114.0"))), "denied-address");
    assert_eq!(
      rule(policy.check_addr(ip("203.0.114.255"))),
      "denied-address"
    );
    assert_eq!(policy.check_addr(ip("203.0.115.0")), Ok(()));
    assert_eq!(
      rule(policy.check_url("http://[2606:4700:4700::1111]/")),
      "denied-address"
    );
    assert_eq!(
      rule(policy.check_authority("203.0.114.7:443")),
      "denied-address"
    );
  }

  #[test]
  fn a_denied_range_wins_over_an_allowed_one() {
    let policy = policy(&["127.0.0.0/8"], &["127.0.0.2/32"], &[]);
    assert_eq!(policy.check_addr(ip("127.0.0.1")), Ok(()));
    assert_eq!(
      policy.check_addr(ip("127.0.0.2")).unwrap_err().to_string(),
      "destination 127.0.0.2 is denied by the deniedRanges entry 127.0.0.2/32"
    );
  }

  #[test]
  fn denied_hosts_refuse_exact_names_and_wildcard_subtrees() {
    let policy = policy(
      &[],
      &[],
      &["api.evil.example", "*.corp.example", "*.bücher.example"],
    );
    let rows = [
      ("http://api.evil.example/", "denied-host"),
      ("http://API.EVIL.EXAMPLE./", "denied-host"),
      ("http://v2.api.evil.example/", "allowed"),
      ("http://evil.example/", "allowed"),
      ("http://corp.example/", "denied-host"),
      ("http://git.corp.example/", "denied-host"),
      ("http://a.b.corp.example./", "denied-host"),
      ("http://notcorp.example/", "allowed"),
      ("https://shop.BÜCHER.example/", "denied-host"),
    ];
    for (url, expected) in rows {
      assert_eq!(rule(policy.check_url(url)), expected, "{url}");
    }
    assert_eq!(
      rule(policy.check_authority("git.corp.example:443")),
      "denied-host"
    );
    assert_eq!(
      policy
        .check_url("http://git.corp.example/")
        .unwrap_err()
        .to_string(),
      "host \"git.corp.example\" is denied by the deniedHosts entry \"*.corp.example\""
    );
  }

  #[test]
  fn a_narrowed_policy_allows_only_listed_hosts_and_refuses_all_the_base_refuses() {
    let base = policy(&["127.0.0.0/8"], &[], &["*.corp.example"]);
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let narrowed = base
      .narrowed(
        Some(&strings(&["api.example.com", "*.cdn.example"])),
        &strings(&["8.8.8.0/24"]),
        &strings(&["old.cdn.example"]),
      )
      .unwrap();
    let rows = [
      ("https://api.example.com/", "allowed"),
      ("https://API.EXAMPLE.COM./", "allowed"),
      ("https://v2.api.example.com/", "not-allowed-host"),
      ("https://cdn.example/", "allowed"),
      ("https://img.cdn.example/", "allowed"),
      ("https://old.cdn.example/", "denied-host"),
      ("https://example.org/", "not-allowed-host"),
      // An address literal is never on a list of names, and the base's rules come first.
      ("http://93.184.216.34/", "not-allowed-host"),
      ("http://127.0.0.1:3000/", "not-allowed-host"),
      ("http://10.0.0.1/", "blocked-address"),
      ("http://localhost/", "blocked-host"),
      ("http://git.corp.example/", "denied-host"),
    ];
    for (url, expected) in rows {
      assert_eq!(rule(narrowed.check_url(url)), expected, "{url}");
    }
    assert_eq!(rule(narrowed.check_addr(ip("8.8.8.8"))), "denied-address");
    assert_eq!(narrowed.check_addr(ip("127.0.0.1")), Ok(()));
    assert_eq!(
      rule(narrowed.check_authority("example.org:443")),
      "not-allowed-host"
    );
    assert_eq!(
      narrowed
        .check_url("https://example.org/")
        .unwrap_err()
        .to_string(),
      "host \"example.org\" is not in allowedHosts: only the names listed there may be reached"
    );
    // Narrowed again, a host must be on both lists.
    let twice = narrowed
      .narrowed(Some(&strings(&["img.cdn.example"])), &[], &[])
      .unwrap();
    assert_eq!(rule(twice.check_url("https://img.cdn.example/")), "allowed");
    assert_eq!(
      rule(twice.check_url("https://api.example.com/")),
      "not-allowed-host"
    );
    // An empty list allows nothing; no list leaves the base as it was.
    let none = base.narrowed(Some(&[]), &[], &[]).unwrap();
    assert_eq!(
      rule(none.check_url("https://api.example.com/")),
      "not-allowed-host"
    );
    assert_eq!(base.narrowed(None, &[], &[]).unwrap(), base);
  }

  #[test]
  fn authorities_are_judged_like_url_hosts() {
    let policy = EgressPolicy::default();
    let rows = [
      ("example.com:443", "allowed"),
      ("[2606:4700:4700::1111]:443", "allowed"),
      ("127.0.0.1:80", "blocked-address"),
      ("2130706433:80", "blocked-address"),
      ("0x7f.1:80", "blocked-address"),
      ("[::1]:443", "blocked-address"),
      ("[::ffff:a9fe:a9fe]:80", "blocked-address"),
      ("169.254.169.254:80", "blocked-address"),
      ("localhost:80", "blocked-host"),
      ("LOCALHOST.:80", "blocked-host"),
      ("metadata.google.internal:80", "blocked-host"),
      ("user:pass@example.com:443", "userinfo"),
      ("example.com", "invalid-authority"),
    ];
    for (authority, expected) in rows {
      assert_eq!(
        rule(policy.check_authority(authority)),
        expected,
        "{authority}"
      );
    }
  }

  #[test]
  fn a_redirect_location_is_judged_like_a_url() {
    let policy = EgressPolicy::default();
    let public = Url::parse("https://example.com/next").unwrap();
    let metadata = Url::parse("http://169.254.169.254/").unwrap();
    let ftp = Url::parse("ftp://example.com/").unwrap();
    assert_eq!(rule(policy.check_parsed_url(&public)), "allowed");
    assert_eq!(rule(policy.check_parsed_url(&metadata)), "blocked-address");
    assert_eq!(rule(policy.check_parsed_url(&ftp)), "scheme");
  }
}

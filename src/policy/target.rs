//! Parsing what a script or a proxy client asked for into a [`Target`].
//!
//! Hosts are parsed only by the `url` crate's WHATWG host parser, for URLs
//! and authorities alike, so every spelling of an address (`2130706433`,
//! `0x7f.1`, `%31%32%37.0.0.1`, full-width digits, …) becomes the address it
//! is before any rule looks at it.

use super::denial::Denial;
use std::fmt;
use std::net::IpAddr;
use url::{Host, ParseError, Url};

/// The host a request goes to: a domain name (ASCII, lowercase, IDNA-encoded,
/// as the URL parser wrote it) or an IP address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetHost {
  Domain(String),
  Ip(IpAddr),
}

impl fmt::Display for TargetHost {
  /// As it is written in a URL or a CONNECT line: IPv6 in brackets.
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      TargetHost::Domain(name) => f.write_str(name),
      TargetHost::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
      TargetHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
    }
  }
}

impl From<Host<&str>> for TargetHost {
  fn from(host: Host<&str>) -> Self {
    match host {
      Host::Domain(name) => TargetHost::Domain(name.to_owned()),
      Host::Ipv4(ip) => TargetHost::Ip(ip.into()),
      Host::Ipv6(ip) => TargetHost::Ip(ip.into()),
    }
  }
}

/// A destination that passed the policy's URL and host checks.
///
/// A domain still has to be resolved, and each address it resolves to judged
/// with [`EgressPolicy::check_addr`](super::EgressPolicy::check_addr).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
  /// The parsed URL, when the target came from a URL.
  pub url: Option<Url>,
  pub host: TargetHost,
  /// The explicit port, or the scheme's default (80, 443).
  pub port: u16,
}

impl Target {
  /// `host:port`, as in a CONNECT request line (`[::1]:443`).
  pub fn authority(&self) -> String {
    format!("{}:{}", self.host, self.port)
  }
}

/// Parses a URL a script asked for, refusing other schemes and userinfo.
pub(crate) fn parse_url(input: &str) -> Result<Target, Denial> {
  let url = Url::parse(input).map_err(Denial::InvalidUrl)?;
  check_scheme(&url)?;
  // The parser drops an empty userinfo (`http://@example.com/`), so the
  // raw text is checked too: a URL with `@` in its authority is read
  // differently by different parsers, and none of ours needs one.
  if has_raw_userinfo(input) {
    return Err(Denial::Userinfo);
  }
  url_target(&url)
}

/// The target of an already parsed URL, such as a redirect's `Location`.
pub(crate) fn url_target(url: &Url) -> Result<Target, Denial> {
  check_scheme(url)?;
  if !url.username().is_empty() || url.password().is_some() {
    return Err(Denial::Userinfo);
  }
  let host = url
    .host()
    .ok_or(Denial::InvalidUrl(ParseError::EmptyHost))?;
  let port = url
    .port_or_known_default()
    .ok_or(Denial::InvalidUrl(ParseError::InvalidPort))?;
  Ok(Target {
    url: Some(url.clone()),
    host: host.into(),
    port,
  })
}

fn check_scheme(url: &Url) -> Result<(), Denial> {
  match url.scheme() {
    "http" | "https" => Ok(()),
    scheme => Err(Denial::Scheme {
      scheme: scheme.to_owned(),
    }),
  }
}

/// Whether the authority of an `http(s):` URL, as the WHATWG parser reads
/// it, contains `@`.
fn has_raw_userinfo(input: &str) -> bool {
  // The parser ignores tabs and newlines anywhere (controls and spaces at
  // either end lie outside the authority); after the scheme of a special URL
  // it skips any run of `/` and `\`, and the authority ends at `/`, `\`, `?` or `#`.
  let cleaned: String = input
    .chars()
    .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
    .collect();
  let Some((_scheme, rest)) = cleaned.split_once(':') else {
    return false;
  };
  let rest = rest.trim_start_matches(['/', '\\']);
  let authority_end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
  rest[..authority_end].contains('@')
}

/// Parses a `host:port` authority as sent in CONNECT; the port is required.
pub(crate) fn parse_authority(input: &str) -> Result<Target, Denial> {
  let invalid = |reason: &str| Denial::InvalidAuthority {
    reason: reason.to_owned(),
  };
  if input.contains('@') {
    return Err(Denial::Userinfo);
  }
  if input
    .chars()
    .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '/' | '\\' | '?' | '#'))
  {
    return Err(invalid(
      "it contains a space, control character, '/', '\\', '?' or '#'",
    ));
  }
  let (host, port) = if input.starts_with('[') {
    let close = input
      .find(']')
      .ok_or_else(|| invalid("an IPv6 address is missing its closing ']'"))?;
    let port = input[close + 1..]
      .strip_prefix(':')
      .ok_or_else(|| invalid("it has no port; write it as host:port"))?;
    (&input[..=close], port)
  } else {
    let (host, port) = input
      .rsplit_once(':')
      .ok_or_else(|| invalid("it has no port; write it as host:port"))?;
    if host.contains(':') {
      return Err(invalid(
        "an IPv6 address must be in brackets, as in [::1]:443",
      ));
    }
    (host, port)
  };
  if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
    return Err(invalid("the port must be a number from 0 to 65535"));
  }
  let port: u16 = port
    .parse()
    .map_err(|_| invalid("the port must be a number from 0 to 65535"))?;
  let host = Host::parse(host).map_err(|err| invalid(&err.to_string()))?;
  let host = match host {
    Host::Domain(name) => TargetHost::Domain(name),
    Host::Ipv4(ip) => TargetHost::Ip(ip.into()),
    Host::Ipv6(ip) => TargetHost::Ip(ip.into()),
  };
  Ok(Target {
    url: None,
    host,
    port,
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn domain(name: &str) -> TargetHost {
    TargetHost::Domain(name.into())
  }

  fn ip(text: &str) -> TargetHost {
    TargetHost::Ip(text.parse().unwrap())
  }

  #[test]
  fn every_spelling_of_an_address_parses_to_the_address_it_is() {
    let rows = [
      ("http://127.0.0.1/", ip("127.0.0.1")),
      ("http://2130706433/", ip("127.0.0.1")),
      ("http://0177.0.0.1/", ip("127.0.0.1")),
      ("http://0x7f.1/", ip("127.0.0.1")),
      ("http://0x7f000001/", ip("127.0.0.1")),
      ("http://017700000001/", ip("127.0.0.1")),
      ("http://127.1/", ip("127.0.0.1")),
      ("http://127.0.1/", ip("127.0.0.1")),
      ("http://127.0.0.1./", ip("127.0.0.1")),
      ("http://%31%32%37.0.0.1/", ip("127.0.0.1")),
      ("http://１２７.０.０.１/", ip("127.0.0.1")),
      ("http://127。0。0。1/", ip("127.0.0.1")),
      ("http://0/", ip("0.0.0.0")),
      ("http://0251.0376.0251.0376/", ip("169.254.169.254")),
      ("http://0xa9fea9fe/", ip("169.254.169.254")),
      ("http://2852039166/", ip("169.254.169.254")),
      ("http://[::ffff:127.0.0.1]/", ip("::ffff:127.0.0.1")),
      ("http://[0:0:0:0:0:ffff:7f00:1]/", ip("::ffff:127.0.0.1")),
      ("http://[::1]/", ip("::1")),
      ("http://[0:0:0:0:0:0:0:1]/", ip("::1")),
      ("http://[::127.0.0.1]/", ip("::7f00:1")),
      ("http://LOCALHOST./", domain("localhost.")),
      ("http://ｌｏｃａｌｈｏｓｔ/", domain("localhost")),
      ("http://localhost%2e/", domain("localhost.")),
      ("https://Bücher.Example/", domain("xn--bcher-kva.example")),
    ];
    for (url, host) in rows {
      let target = parse_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
      assert_eq!(target.host, host, "{url}");
    }
  }

  #[test]
  fn the_port_is_explicit_or_the_scheme_default() {
    assert_eq!(parse_url("http://example.com/").unwrap().port, 80);
    assert_eq!(parse_url("https://example.com/").unwrap().port, 443);
    assert_eq!(parse_url("http://example.com:80/").unwrap().port, 80);
    assert_eq!(parse_url("https://example.com:8443/").unwrap().port, 8443);
    let target = parse_url("HTTPS://Example.com/a?b#c").unwrap();
    assert_eq!(target.url.unwrap().as_str(), "https://example.com/a?b#c");
  }

  #[test]
  fn schemes_other_than_http_and_https_are_refused() {
    for url in [
      "file:///etc/passwd",
      "ftp://example.com/",
      "gopher://example.com:70/_x",
      "data:text/plain,hi",
      "javascript:alert(1)",
      "ws://example.com/",
      "blob:https://example.com/uuid",
    ] {
      let denial = parse_url(url).unwrap_err();
      assert_eq!(denial.rule(), "scheme", "{url}");
    }
    assert_eq!(
      parse_url("file:///etc/passwd").unwrap_err().to_string(),
      "scheme \"file:\" is not allowed: only http: and https: URLs can be requested"
    );
  }

  #[test]
  fn urls_with_any_userinfo_are_refused_even_an_empty_one() {
    for url in [
      "http://user:pass@example.com/",
      "http://user@example.com/",
      "http://:pass@example.com/",
      "http://@example.com/",
      "http://:@example.com/",
      "http://example.com@evil.example/",
      "http://a@b@evil.example/",
      "http:\\\\user@example.com/",
      "http:user@example.com/",
      "http:///user@example.com/",
      " HTTP://user@example.com/",
      "http://us\ter@example.com/",
    ] {
      let denial = parse_url(url).unwrap_err();
      assert_eq!(denial.rule(), "userinfo", "{url}");
    }
  }

  #[test]
  fn an_at_sign_after_the_authority_is_not_userinfo() {
    for url in [
      "http://example.com/@user",
      "http://example.com/path?mail=a@b.example",
      "http://example.com#@x",
      "http://example.com\\@x",
    ] {
      assert!(parse_url(url).is_ok(), "{url}");
    }
  }

  #[test]
  fn a_parsed_url_with_credentials_is_refused() {
    let url = Url::parse("http://user:pass@example.com/").unwrap();
    assert_eq!(url_target(&url).unwrap_err(), Denial::Userinfo);
  }

  #[test]
  fn malformed_urls_are_invalid() {
    for url in [
      "",
      "not a url",
      "/relative/path",
      "http://",
      "http:///",
      "http://[::1/",
      "http://1.2.3.4.5/",
      "http://256.0.0.1/",
      "http://0x100000000/",
      "http://example.com:99999/",
      "http://exa mple.com/",
      "http://[fe80::1%25eth0]/",
    ] {
      let denial = parse_url(url).unwrap_err();
      assert_eq!(denial.rule(), "invalid-url", "{url:?}: {denial}");
    }
  }

  #[test]
  fn an_authority_is_a_host_and_a_required_port() {
    let rows = [
      ("example.com:443", domain("example.com"), 443),
      ("EXAMPLE.com.:80", domain("example.com."), 80),
      ("8.8.8.8:53", ip("8.8.8.8"), 53),
      ("0x7f.1:80", ip("127.0.0.1"), 80),
      ("2130706433:443", ip("127.0.0.1"), 443),
      ("%31%32%37.0.0.1:80", ip("127.0.0.1"), 80),
      ("[::1]:443", ip("::1"), 443),
      ("[::ffff:7f00:1]:443", ip("::ffff:127.0.0.1"), 443),
      ("bücher.example:443", domain("xn--bcher-kva.example"), 443),
      ("example.com:65535", domain("example.com"), 65535),
    ];
    for (authority, host, port) in rows {
      let target = parse_authority(authority).unwrap_or_else(|e| panic!("{authority}: {e}"));
      assert_eq!((target.host, target.port), (host, port), "{authority}");
      assert_eq!(target.url, None);
    }
  }

  #[test]
  fn malformed_authorities_are_invalid() {
    for authority in [
      "",
      "example.com",
      "example.com:",
      ":443",
      "example.com:http",
      "example.com:65536",
      "example.com:+443",
      "example.com:443/path",
      "example.com:443?x",
      "exa mple.com:443",
      "::1:443",
      "[::1]",
      "[::1]443",
      "[::1:443",
      "1.2.3.4.5:80",
    ] {
      let denial = parse_authority(authority).unwrap_err();
      assert_eq!(
        denial.rule(),
        "invalid-authority",
        "{authority:?}: {denial}"
      );
    }
  }

  #[test]
  fn an_authority_with_userinfo_is_refused() {
    assert_eq!(
      parse_authority("user:pass@example.com:443").unwrap_err(),
      Denial::Userinfo
    );
  }

  #[test]
  fn a_target_writes_its_authority_as_in_a_connect_line() {
    assert_eq!(
      parse_url("http://[::1]:8080/").unwrap().authority(),
      "[::1]:8080"
    );
    assert_eq!(
      parse_url("https://example.com/").unwrap().authority(),
      "example.com:443"
    );
  }
}

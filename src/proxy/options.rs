//! The options of `startEgressProxy`, documented where they are defined (the docs become the
//! JSDoc in `index.d.ts`), and their validation, once, into the [`ProxySettings`] the proxy runs on.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use napi_derive::napi;
use serde::Deserialize;
use serde_json::Value;

use std::sync::Arc;

use super::access::{Access, Mode};
use super::auth::Credentials;
use crate::error::ArgError;
use crate::options::{integer, millis, number};
use crate::policy::EgressPolicy;

/// Options of `startEgressProxy`. Only `credentials` is required.
#[napi(object, object_to_js = false)]
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressProxyOptions {
  /// Where to listen, as `"ip:port"` (`"[::1]:3128"` for IPv6); port 0 picks a free port.
  /// Listen on a public interface only behind a firewall that admits your application servers.
  /// @default '127.0.0.1:0'
  pub listen: Option<String>,
  /// The Basic credentials clients must send in `Proxy-Authorization`; at least one pair.
  /// A user name may not contain `:`. Each may carry its own rules (one credential per site
  /// makes the proxy a boundary between sites): see `ProxyCredential`.
  pub credentials: Option<Vec<ProxyCredential>>,
  /// CIDR ranges (or single addresses) that the built-in address rules no longer block, such as
  /// `127.0.0.0/8` to reach a server on this machine in development and tests. Host-name rules
  /// still apply: use `127.0.0.1`, not `localhost`.
  /// @default []
  pub allowed_ranges: Option<Vec<String>>,
  /// CIDR ranges refused on top of the built-in ones; they win over `allowedRanges`.
  /// @default []
  pub denied_ranges: Option<Vec<String>>,
  /// Host names refused on top of the built-in ones: `api.example.com` is that name only,
  /// `*.corp.example` is `corp.example` and every name under it.
  /// @default []
  pub denied_hosts: Option<Vec<String>>,
  /// A DNS server to resolve destinations with instead of the system resolver, as `"ip:port"` or
  /// `"ip"` (port 53): for deployments that pin a resolver, and for tests.
  /// @default the system resolver
  pub resolver: Option<String>,
  /// Time to resolve a destination's host name.
  /// @default 5000
  #[serde(default, deserialize_with = "number")]
  pub resolve_timeout_ms: Option<f64>,
  /// Time to open the TCP connection to a destination; past it the client gets 504.
  /// @default 10000
  #[serde(default, deserialize_with = "number")]
  pub connect_timeout_ms: Option<f64>,
  /// A client connection or tunnel that moves no byte in either direction for this long is closed.
  /// @default 60000
  #[serde(default, deserialize_with = "number")]
  pub idle_timeout_ms: Option<f64>,
  /// Where to serve the proxy's metrics in the Prometheus text format (`GET /metrics`) and a
  /// health check (`GET /healthz`), as `"ip:port"`: an admin listener without authentication,
  /// so keep it on loopback or a private interface. Scripts can never reach it through the proxy.
  /// @default none
  pub metrics_listen: Option<String>,
  /// How long `close()` lets running requests and tunnels finish before it cuts them.
  /// @default 5000
  #[serde(default, deserialize_with = "number")]
  pub shutdown_timeout_ms: Option<f64>,
  /// How many upstream connections (CONNECT tunnels and forwarded requests in flight) one client
  /// IP address may hold at once; past it the client gets 429. Keep it at least as high as the
  /// number of scripts that run at once behind one application server.
  /// @default 256
  #[serde(default, deserialize_with = "number")]
  pub max_tunnels_per_client: Option<f64>,
  /// The largest request head (request line and headers) a client may send, in bytes; past it the
  /// client gets 431. At least 1024.
  /// @default 16384
  #[serde(default, deserialize_with = "number")]
  pub max_header_bytes: Option<f64>,
  /// Called with every request's outcome once it is over (when a tunnel closes, when a response
  /// has been sent, or at once for a refusal). Called on Node's event loop and never waited for,
  /// so a slow callback cannot slow the proxy; an exception it throws is an uncaught exception.
  /// @default none
  // Declared for the typings and to accept the key; the function itself is read from the JS
  // object (JSON, which carries the rest, has no functions).
  #[napi(ts_type = "(decision: EgressDecision) => void")]
  #[allow(dead_code)]
  pub on_decision: Option<Value>,
}

/// One pair of Basic credentials, and the rules of the client that uses them (a site): they
/// narrow the proxy's policy for this credential alone and never relax it, in either mode.
#[napi(object, object_to_js = false)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyCredential {
  pub username: String,
  pub password: String,
  /// The only hosts this credential may reach: `api.example.com` is that name only,
  /// `*.example.com` is `example.com` and every name under it. A destination given as an IP
  /// address is then refused too. `[]` allows nothing (useful in `report` mode, to learn what a
  /// site calls).
  /// @default every host the proxy's policy allows
  pub allowed_hosts: Option<Vec<String>>,
  /// Host names refused for this credential on top of the proxy's `deniedHosts`.
  /// @default []
  pub denied_hosts: Option<Vec<String>>,
  /// CIDR ranges refused for this credential on top of the proxy's `deniedRanges`.
  /// @default []
  pub denied_ranges: Option<Vec<String>>,
  /// `'enforce'` refuses what this credential's rules refuse; `'report'` allows it and records the
  /// rule that would have refused it in the decision (`reported: true`), to roll rules out safely.
  /// The proxy's own policy and limits apply in both.
  /// @default 'enforce'
  #[napi(ts_type = "'enforce' | 'report'")]
  pub mode: Option<String>,
  /// Requests this credential may make per minute, refused or not: up to this many at once, then
  /// refilled evenly over the minute. Past it the proxy answers 429 with
  /// `X-Egress-Error: rate-limited` and `Retry-After`.
  /// @default no limit
  #[serde(default, deserialize_with = "number")]
  pub max_requests_per_minute: Option<f64>,
  /// Requests this credential may have under way at once (open tunnels and forwarded requests);
  /// past it the proxy answers 429 with `X-Egress-Error: rate-limited`.
  /// @default no limit
  #[serde(default, deserialize_with = "number")]
  pub max_concurrent: Option<f64>,
}

/// The proxy's settings, validated.
#[derive(Debug, Clone)]
pub struct ProxySettings {
  pub listen: SocketAddr,
  pub metrics_listen: Option<SocketAddr>,
  pub credentials: Credentials,
  /// Each credential's rules, in the order of `credentials`.
  pub access: Vec<Arc<Access>>,
  /// The proxy's own policy, which every credential's narrows.
  pub policy: EgressPolicy,
  pub resolver: Option<SocketAddr>,
  pub resolve_timeout: Duration,
  pub connect_timeout: Duration,
  pub idle_timeout: Duration,
  pub shutdown_timeout: Duration,
  pub max_tunnels_per_client: usize,
  pub max_header_bytes: usize,
}

/// The defaults of [`EgressProxyOptions`].
pub const DEFAULT_RESOLVE_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_SHUTDOWN_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_MAX_TUNNELS_PER_CLIENT: u64 = 256;
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 16_384;

/// No real client's request head is smaller.
pub const MIN_HEADER_BYTES: u64 = 1024;

impl EgressProxyOptions {
  pub fn into_settings(self) -> Result<ProxySettings, ArgError> {
    let ms = |value, name: &str, default| {
      millis(value, &format!("options.{name}"), 1..=3_600_000, default)
    };
    let credentials = self.credentials.ok_or_else(|| ArgError::Type {
      name: "options.credentials".into(),
      expected: "an array of { username, password } objects".into(),
      received: "undefined".into(),
    })?;
    let pairs: Vec<(String, String)> = credentials
      .iter()
      .map(|c| (c.username.clone(), c.password.clone()))
      .collect();
    let list = |v: Option<Vec<String>>| v.unwrap_or_default();
    let policy = EgressPolicy::new(
      &list(self.allowed_ranges),
      &list(self.denied_ranges),
      &list(self.denied_hosts),
    )
    .map_err(|e| ArgError::Value {
      name: "options".into(),
      reason: format!("is invalid: {e}"),
    })?;
    let access = credentials
      .into_iter()
      .enumerate()
      .map(|(index, c)| c.into_access(index, &policy).map(Arc::new))
      .collect::<Result<Vec<_>, _>>()?;
    let credentials = Credentials::new(&pairs).map_err(|reason| ArgError::Value {
      name: "options.credentials".into(),
      reason,
    })?;
    let address = |field: &str, text: String| {
      text.parse::<SocketAddr>().map_err(|_| ArgError::Value {
        name: format!("options.{field}"),
        reason: format!(
          "must be an address and port such as \"127.0.0.1:3128\" or \"[::1]:3128\". Received {text:?}"
        ),
      })
    };
    let listen = match self.listen {
      None => SocketAddr::from(([127, 0, 0, 1], 0)),
      Some(text) => address("listen", text)?,
    };
    let metrics_listen = self
      .metrics_listen
      .map(|text| address("metricsListen", text))
      .transpose()?;
    let resolver = match self.resolver {
      None => None,
      Some(text) => Some(parse_resolver(&text).ok_or_else(|| ArgError::Value {
        name: "options.resolver".into(),
        reason: format!(
          "must be the address of a DNS server such as \"10.0.0.2\" or \"127.0.0.1:5353\". Received {text:?}"
        ),
      })?),
    };
    Ok(ProxySettings {
      listen,
      metrics_listen,
      credentials,
      access,
      policy,
      resolver,
      resolve_timeout: ms(
        self.resolve_timeout_ms,
        "resolveTimeoutMs",
        DEFAULT_RESOLVE_TIMEOUT_MS,
      )?,
      connect_timeout: ms(
        self.connect_timeout_ms,
        "connectTimeoutMs",
        DEFAULT_CONNECT_TIMEOUT_MS,
      )?,
      idle_timeout: ms(
        self.idle_timeout_ms,
        "idleTimeoutMs",
        DEFAULT_IDLE_TIMEOUT_MS,
      )?,
      shutdown_timeout: ms(
        self.shutdown_timeout_ms,
        "shutdownTimeoutMs",
        DEFAULT_SHUTDOWN_TIMEOUT_MS,
      )?,
      max_tunnels_per_client: integer(
        self.max_tunnels_per_client,
        "options.maxTunnelsPerClient",
        1..=65_536,
        DEFAULT_MAX_TUNNELS_PER_CLIENT,
      )? as usize,
      max_header_bytes: integer(
        self.max_header_bytes,
        "options.maxHeaderBytes",
        MIN_HEADER_BYTES..=1 << 20,
        DEFAULT_MAX_HEADER_BYTES,
      )? as usize,
    })
  }
}

impl ProxySettings {
  /// The addresses the proxy listens on, which it never connects to.
  pub fn own_addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
    std::iter::once(self.listen).chain(self.metrics_listen)
  }
}

impl ProxyCredential {
  /// The credential's rules; errors name the field as `options.credentials[index].…`.
  fn into_access(self, index: usize, policy: &EgressPolicy) -> Result<Access, ArgError> {
    let name = |field: &str| format!("options.credentials[{index}]{field}");
    let mode = match self.mode.as_deref() {
      None | Some("enforce") => Mode::Enforce,
      Some("report") => Mode::Report,
      Some(other) => {
        return Err(ArgError::Value {
          name: name(".mode"),
          reason: format!("must be \"enforce\" or \"report\". Received {other:?}"),
        })
      }
    };
    let narrowed = policy
      .narrowed(
        self.allowed_hosts.as_deref(),
        &self.denied_ranges.unwrap_or_default(),
        &self.denied_hosts.unwrap_or_default(),
      )
      .map_err(|e| ArgError::Value {
        name: name(""),
        reason: format!("is invalid: {e}"),
      })?;
    let limit = |value: Option<f64>, field: &str| {
      value
        .map(|v| integer(Some(v), &name(field), 1..=1_000_000, 0).map(|n| n as u32))
        .transpose()
    };
    Ok(Access {
      username: self.username,
      mode,
      policy: narrowed,
      max_requests_per_minute: limit(self.max_requests_per_minute, ".maxRequestsPerMinute")?,
      max_concurrent: limit(self.max_concurrent, ".maxConcurrent")?,
    })
  }
}

#[cfg(test)]
impl ProxySettings {
  /// A config for tests: user `app`, password `s3cret`, listening on `127.0.0.1:0`, the built-in
  /// policy plus `allowed` ranges, short timeouts.
  pub fn for_test(allowed: &[&str]) -> Self {
    let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    let policy = EgressPolicy::new(&allowed, &[], &[]).unwrap();
    ProxySettings {
      listen: SocketAddr::from(([127, 0, 0, 1], 0)),
      metrics_listen: None,
      credentials: Credentials::new(&[("app".into(), "s3cret".into())]).unwrap(),
      access: vec![Arc::new(Access {
        username: "app".into(),
        mode: Mode::Enforce,
        policy: policy.clone(),
        max_requests_per_minute: None,
        max_concurrent: None,
      })],
      policy,
      resolver: None,
      resolve_timeout: Duration::from_millis(500),
      connect_timeout: Duration::from_millis(300),
      idle_timeout: Duration::from_secs(5),
      shutdown_timeout: Duration::from_millis(200),
      max_tunnels_per_client: 8,
      max_header_bytes: 4096,
    }
  }
}

/// `"ip:port"`, `"[v6]:port"`, or a bare address meaning port 53.
fn parse_resolver(text: &str) -> Option<SocketAddr> {
  if let Ok(addr) = text.parse::<SocketAddr>() {
    return (addr.port() != 0).then_some(addr);
  }
  let bare = text
    .strip_prefix('[')
    .and_then(|t| t.strip_suffix(']'))
    .unwrap_or(text);
  bare
    .parse::<IpAddr>()
    .ok()
    .map(|ip| SocketAddr::new(ip, 53))
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::options::from_json;

  fn config(json: &str) -> Result<ProxySettings, ArgError> {
    from_json::<EgressProxyOptions>("options", json)?.into_settings()
  }

  fn failing_field(json: &str) -> String {
    match config(json) {
      Err(ArgError::Type { name, .. })
      | Err(ArgError::Value { name, .. })
      | Err(ArgError::Range { name, .. }) => name,
      Ok(_) => panic!("{json} was accepted"),
    }
  }

  const CREDS: &str = r#""credentials":[{"username":"app","password":"s3cret"}]"#;

  #[test]
  fn defaults_are_the_documented_ones() {
    let c = config(&format!("{{{CREDS}}}")).unwrap();
    assert_eq!(c.listen, "127.0.0.1:0".parse().unwrap());
    assert_eq!(c.resolver, None);
    assert_eq!(c.resolve_timeout, Duration::from_millis(5_000));
    assert_eq!(c.connect_timeout, Duration::from_millis(10_000));
    assert_eq!(c.idle_timeout, Duration::from_millis(60_000));
    assert_eq!(c.shutdown_timeout, Duration::from_millis(5_000));
    assert_eq!(c.max_tunnels_per_client, 256);
    assert_eq!(c.max_header_bytes, 16_384);
    assert_eq!(c.policy, EgressPolicy::default());
  }

  #[test]
  fn every_field_is_read() {
    let c = config(&format!(
      r#"{{{CREDS},"listen":"[::1]:3128","resolver":"127.0.0.1:5353","allowedRanges":["127.0.0.0/8"],
        "deniedRanges":["127.0.0.2"],"deniedHosts":["*.corp.example"],"resolveTimeoutMs":1,
        "connectTimeoutMs":2,"idleTimeoutMs":3,"shutdownTimeoutMs":4,"maxTunnelsPerClient":5,
        "maxHeaderBytes":8192}}"#
    ))
    .unwrap();
    assert_eq!(c.listen, "[::1]:3128".parse().unwrap());
    assert_eq!(c.resolver, Some("127.0.0.1:5353".parse().unwrap()));
    assert_eq!(
      c.policy,
      EgressPolicy::new(
        &["127.0.0.0/8".into()],
        &["127.0.0.2".into()],
        &["*.corp.example".into()]
      )
      .unwrap()
    );
    assert_eq!(
      (
        c.resolve_timeout,
        c.connect_timeout,
        c.idle_timeout,
        c.shutdown_timeout
      ),
      (
        Duration::from_millis(1),
        Duration::from_millis(2),
        Duration::from_millis(3),
        Duration::from_millis(4)
      )
    );
    assert_eq!((c.max_tunnels_per_client, c.max_header_bytes), (5, 8192));
  }

  #[test]
  fn credentials_are_required() {
    assert!(matches!(
      config("{}"),
      Err(ArgError::Type { name, .. }) if name == "options.credentials"
    ));
    assert_eq!(
      failing_field(r#"{"credentials":[]}"#),
      "options.credentials"
    );
    assert_eq!(
      failing_field(r#"{"credentials":[{"username":"a:b","password":"x"}]}"#),
      "options.credentials"
    );
    assert_eq!(
      failing_field(r#"{"credentials":[{"username":"a"}]}"#),
      "options.credentials[0]"
    );
  }

  #[test]
  fn bad_fields_are_named() {
    let rows = [
      (r#""listen":"localhost:3128""#, "options.listen"),
      (r#""listen":"127.0.0.1""#, "options.listen"),
      (r#""resolver":"dns.example""#, "options.resolver"),
      (r#""resolver":"127.0.0.1:0""#, "options.resolver"),
      (r#""allowedRanges":["10.0.0.1/8"]"#, "options"),
      (r#""deniedHosts":["a.*.example"]"#, "options"),
      (r#""connectTimeoutMs":0"#, "options.connectTimeoutMs"),
      (r#""idleTimeoutMs":1.5"#, "options.idleTimeoutMs"),
      (r#""maxTunnelsPerClient":0"#, "options.maxTunnelsPerClient"),
      (r#""maxHeaderBytes":1000"#, "options.maxHeaderBytes"),
      (r#""maxHeaderBytes":"big""#, "options.maxHeaderBytes"),
      // NaN and Infinity arrive as null, and must not mean "the default".
      (r#""resolveTimeoutMs":null"#, "options.resolveTimeoutMs"),
      (r#""listenOn":"127.0.0.1:1""#, "options"),
    ];
    for (field, expected) in rows {
      assert_eq!(
        failing_field(&format!("{{{CREDS},{field}}}")),
        expected,
        "{field}"
      );
    }
  }

  #[test]
  fn each_credential_carries_its_own_rules() {
    let c = config(
      r#"{"credentials":[{"username":"shop","password":"p","allowedHosts":["api.example.com","*.cdn.example"],
        "deniedHosts":["old.cdn.example"],"deniedRanges":["203.0.113.0/24"],"mode":"report",
        "maxRequestsPerMinute":600,"maxConcurrent":20},{"username":"blog","password":"q"}],
        "deniedHosts":["*.corp.example"]}"#,
    )
    .unwrap();
    let (shop, blog) = (&c.access[0], &c.access[1]);
    assert_eq!(shop.username, "shop");
    assert_eq!(shop.mode, Mode::Report);
    assert_eq!(
      (shop.max_requests_per_minute, shop.max_concurrent),
      (Some(600), Some(20))
    );
    let expected = c
      .policy
      .narrowed(
        Some(&["api.example.com".into(), "*.cdn.example".into()]),
        &["203.0.113.0/24".into()],
        &["old.cdn.example".into()],
      )
      .unwrap();
    assert_eq!(shop.policy, expected);
    // Without rules of its own, a credential has the proxy's policy, enforced, unlimited.
    assert_eq!(
      (blog.mode, &blog.policy, blog.max_concurrent),
      (Mode::Enforce, &c.policy, None)
    );
  }

  #[test]
  fn a_credentials_bad_field_is_named_with_its_index() {
    let rows = [
      (r#""mode":"audit""#, "options.credentials[1].mode"),
      (
        r#""maxConcurrent":0"#,
        "options.credentials[1].maxConcurrent",
      ),
      (
        r#""maxRequestsPerMinute":1.5"#,
        "options.credentials[1].maxRequestsPerMinute",
      ),
      (r#""allowedHosts":["10.0.0.1"]"#, "options.credentials[1]"),
      (
        r#""allowedHosts":"api.example.com""#,
        "options.credentials[1].allowedHosts",
      ),
      (r#""deniedRanges":["nope"]"#, "options.credentials[1]"),
      (r#""allowHosts":[]"#, "options.credentials[1]"),
    ];
    for (field, expected) in rows {
      let json = format!(
        r#"{{"credentials":[{{"username":"a","password":"b"}},{{"username":"c","password":"d",{field}}}]}}"#
      );
      assert_eq!(failing_field(&json), expected, "{field}");
    }
    let err =
      config(r#"{"credentials":[{"username":"a","password":"b","allowedHosts":["a.*.example"]}]}"#)
        .unwrap_err();
    assert!(
      err
        .to_string()
        .contains("allowedHosts[0] is not a host name"),
      "{err}"
    );
    assert_eq!(
      failing_field(&format!(r#"{{{CREDS},"metricsListen":"localhost:9090"}}"#)),
      "options.metricsListen"
    );
  }

  #[test]
  fn a_policy_error_explains_the_entry() {
    let err = config(&format!(r#"{{{CREDS},"allowedRanges":["nope"]}}"#)).unwrap_err();
    assert!(
      err
        .to_string()
        .contains("allowedRanges[0] is not a CIDR range: \"nope\""),
      "{err}"
    );
  }

  #[test]
  fn a_resolver_without_a_port_uses_53() {
    assert_eq!(
      parse_resolver("10.0.0.2"),
      Some("10.0.0.2:53".parse().unwrap())
    );
    assert_eq!(parse_resolver("[::1]"), Some("[::1]:53".parse().unwrap()));
    assert_eq!(parse_resolver("::1"), Some("[::1]:53".parse().unwrap()));
    assert_eq!(
      parse_resolver("127.0.0.1:5353"),
      Some("127.0.0.1:5353".parse().unwrap())
    );
    assert_eq!(parse_resolver("dns.example"), None);
  }
}

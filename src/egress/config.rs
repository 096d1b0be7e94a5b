//! `proxyConfig` validated into an [`Egress`]: the proxy, its credentials, the policy, the limits
//! and an HTTP client built for them. Clients are cached per configuration, so executions with the
//! same `proxyConfig` share connections to the proxy and the TLS setup.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::cache::{self, BoundedCache};
use crate::error::ArgError;
use crate::header::is_framing;
use crate::options::{
  integer, millis, ProxyConfig, DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_REQUESTS,
  DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT_MS,
};
use crate::policy::EgressPolicy;
use crate::wire::{max_bytes_from, MAX_BYTES_HEADER};

/// Everything an execution needs to make HTTP requests.
pub struct Egress {
  pub client: reqwest::Client,
  pub policy: EgressPolicy,
  /// The proxy's address without credentials, for messages.
  pub proxy: String,
  pub max_requests: u32,
  pub timeout: Duration,
  pub max_response_bytes: usize,
  pub max_redirects: u32,
}

/// Configurations whose client is kept (the least recently used goes first), …
const CACHE_SIZE: usize = 64;
/// … with at most this many bytes of configuration text, their keys.
const CACHE_BYTES: usize = 16 << 20;

/// The [`Egress`] for a `proxyConfig` given as JSON text (its cache key).
pub fn egress_for(json: &str) -> Result<Arc<Egress>, ArgError> {
  static CLIENTS: OnceLock<Mutex<BoundedCache<String, Arc<Egress>>>> = OnceLock::new();
  let clients = CLIENTS.get_or_init(|| Mutex::new(BoundedCache::new(CACHE_SIZE, CACHE_BYTES)));
  if let Some(e) = cache::lock(clients).get(json) {
    return Ok(e);
  }
  let config: ProxyConfig = crate::options::from_json("proxyConfig", json)?;
  let egress = Arc::new(build(config)?);
  cache::lock(clients).insert(json.to_string(), egress.clone(), json.len());
  Ok(egress)
}

fn invalid(field: &str, reason: impl Into<String>) -> ArgError {
  ArgError::Value {
    name: format!("proxyConfig.{field}"),
    reason: reason.into(),
  }
}

fn build(c: ProxyConfig) -> Result<Egress, ArgError> {
  let mut url = Url::parse(&c.url).map_err(|e| invalid("url", format!("is not a URL ({e})")))?;
  if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
    return Err(invalid("url", "must be an http:// or https:// proxy URL"));
  }
  let decode = |s: &str| percent_decode(s);
  let username = c
    .username
    .or_else(|| Some(decode(url.username())).filter(|u| !u.is_empty()));
  let password = c.password.or_else(|| url.password().map(decode));
  let _ = url.set_username("");
  let _ = url.set_password(None);
  let proxy_url = url.as_str().trim_end_matches('/').to_string();

  let mut proxy = reqwest::Proxy::all(proxy_url.as_str())
    .map_err(|e| invalid("url", format!("is not usable as a proxy ({e})")))?;
  if let Some(user) = &username {
    proxy = proxy.basic_auth(user, password.as_deref().unwrap_or(""));
  } else if password.is_some() {
    return Err(invalid("password", "is given without a username"));
  }
  let mut map = HeaderMap::new();
  if let Some(headers) = c.headers {
    for (name, value) in headers {
      let value = value
        .as_str()
        .ok_or_else(|| invalid(&format!("headers.{name}"), "must be a string"))?;
      let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| invalid("headers", format!("has an invalid header name {name:?}")))?;
      if is_framing(n.as_str()) || n == "host" || n == "proxy-authorization" {
        let hint = if n == "proxy-authorization" {
          " (give username and password)"
        } else {
          ""
        };
        return Err(invalid(
          "headers",
          format!("cannot set the {n} header{hint}"),
        ));
      }
      let v = HeaderValue::from_str(value)
        .map_err(|_| invalid(&format!("headers.{name}"), "is not a valid header value"))?;
      map.insert(n, v);
    }
  }

  let policy = EgressPolicy::new(
    &c.allowed_ranges.unwrap_or_default(),
    &c.denied_ranges.unwrap_or_default(),
    &c.denied_hosts.unwrap_or_default(),
  )
  .map_err(|e| ArgError::Value {
    name: "proxyConfig".into(),
    reason: format!("is invalid: {e}"),
  })?;

  let max_requests = integer(
    c.max_requests,
    "proxyConfig.maxRequests",
    0..=1000,
    DEFAULT_MAX_REQUESTS,
  )? as u32;
  let timeout = millis(
    c.timeout_ms,
    "proxyConfig.timeoutMs",
    1..=600_000,
    DEFAULT_TIMEOUT_MS,
  )?;
  let max_response_bytes = integer(
    c.max_response_bytes,
    "proxyConfig.maxResponseBytes",
    0..=1 << 30,
    DEFAULT_MAX_RESPONSE_BYTES,
  )? as usize;
  let max_redirects = integer(
    c.max_redirects,
    "proxyConfig.maxRedirects",
    0..=20,
    DEFAULT_MAX_REDIRECTS,
  )? as u32;

  // The egress proxy of this package cuts a destination off past this (interim responses
  // without end included); another proxy ignores it.
  map.insert(
    MAX_BYTES_HEADER,
    HeaderValue::from(max_bytes_from(max_response_bytes)),
  );
  // Plain-HTTP requests carry these headers to the proxy in the request it forwards; naming them
  // in `Connection` makes them hop-by-hop, so a proxy must drop them (RFC 9110 §7.6.1) and they
  // stay for the proxy alone. CONNECT requests never reach the destination anyway.
  let names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
  let connection = HeaderValue::from_str(&names.join(", ")).expect("header names are valid values");
  map.insert(reqwest::header::CONNECTION, connection);
  proxy = proxy.headers(map);

  let tls = tls_config(c.ca.as_deref())?;
  let client = reqwest::Client::builder()
    .proxy(proxy)
    .redirect(reqwest::redirect::Policy::none())
    .use_preconfigured_tls(tls)
    .connect_timeout(timeout)
    .pool_idle_timeout(Duration::from_secs(30))
    .build()
    .map_err(|e| invalid("url", format!("cannot be used: {e}")))?;
  Ok(Egress {
    client,
    policy,
    proxy: proxy_url,
    max_requests,
    timeout,
    max_response_bytes,
    max_redirects,
  })
}

/// Decodes userinfo from the proxy URL. The form decoder is used for its percent-decoding only:
/// in userinfo a `+` is itself, not a space.
fn percent_decode(s: &str) -> String {
  let s = s.replace('+', "%2B");
  url::form_urlencoded::parse(format!("x={s}").as_bytes())
    .next()
    .map(|(_, v)| v.into_owned())
    .unwrap_or_default()
}

/// TLS for upstream servers (and an https proxy): Mozilla's roots plus `ca`, by rustls.
fn tls_config(ca: Option<&str>) -> Result<rustls::ClientConfig, ArgError> {
  static WEBPKI: OnceLock<rustls::RootCertStore> = OnceLock::new();
  let mut roots = WEBPKI
    .get_or_init(|| rustls::RootCertStore {
      roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
    .clone();
  if let Some(pem) = ca {
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_bytes())
      .collect::<Result<_, _>>()
      .map_err(|e| invalid("ca", format!("is not valid PEM ({e})")))?;
    if certs.is_empty() {
      return Err(invalid("ca", "holds no PEM certificate"));
    }
    for cert in certs {
      roots
        .add(cert)
        .map_err(|e| invalid("ca", format!("holds a certificate rustls cannot use ({e})")))?;
    }
  }
  let provider = Arc::new(rustls::crypto::ring::default_provider());
  let config = rustls::ClientConfig::builder_with_provider(provider)
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid("ca", e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
  Ok(config)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn config(json: &str) -> Result<Egress, ArgError> {
    build(crate::options::from_json("proxyConfig", json)?)
  }

  #[test]
  fn defaults_are_the_documented_limits_and_credentials_leave_the_url() {
    let e = config(r#"{"url":"http://user:p%40ss@127.0.0.1:3128/"}"#).unwrap();
    assert_eq!(e.proxy, "http://127.0.0.1:3128");
    assert_eq!(
      (e.max_requests, e.max_redirects, e.max_response_bytes),
      (5, 5, 1 << 20)
    );
    assert_eq!(e.timeout, Duration::from_secs(10));
  }

  #[test]
  fn userinfo_in_the_proxy_url_is_percent_decoded_and_a_plus_stays_a_plus() {
    assert_eq!(percent_decode("a+b%40c%3Ad%2B"), "a+b@c:d+");
    assert_eq!(percent_decode("%E2%9C%93 x"), "\u{2713} x");
  }

  #[test]
  fn bad_entries_are_refused_with_the_field_named() {
    for (json, field) in [
      (r#"{"url":"ftp://x"}"#, "proxyConfig.url"),
      (r#"{"url":"not a url"}"#, "proxyConfig.url"),
      (
        r#"{"url":"http://p:1","maxRequests":-1}"#,
        "proxyConfig.maxRequests",
      ),
      (
        r#"{"url":"http://p:1","timeoutMs":0}"#,
        "proxyConfig.timeoutMs",
      ),
      (
        r#"{"url":"http://p:1","allowedRanges":["10.0.0.0/33"]}"#,
        "proxyConfig",
      ),
      (r#"{"url":"http://p:1","ca":"not pem"}"#, "proxyConfig.ca"),
      (
        r#"{"url":"http://p:1","headers":{"x-a":1}}"#,
        "proxyConfig.headers.x-a",
      ),
      (
        r#"{"url":"http://p:1","password":"x"}"#,
        "proxyConfig.password",
      ),
    ] {
      match config(json) {
        Err(ArgError::Value { name, .. }) | Err(ArgError::Range { name, .. }) => {
          assert_eq!(name, field, "{json}")
        }
        Err(e) => panic!("{json}: {e:?}"),
        Ok(_) => panic!("{json} was accepted"),
      }
    }
  }
}

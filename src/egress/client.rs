//! One `http.*` call: policy check, local DNS check, the request through the proxy, redirects
//! followed here (every hop judged again), and a body read up to the cap. Every way a call can fail
//! without an HTTP response becomes an [`HttpFailure`] with a plain-words message.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use reqwest::{Method, StatusCode};
use url::Url;

use super::Egress;
use crate::outcome::HttpRecord;
use crate::policy::{Denial, TargetHost};
use crate::wire::{may_carry_markers, ProxyRule, DENIED_HEADER, ERROR_HEADER};

pub struct HttpRequest {
  pub method: Method,
  pub url: String,
  /// Lower-case names, already checked.
  pub headers: Vec<(String, String)>,
  pub body: Option<Vec<u8>>,
}

#[derive(Debug)]
pub struct HttpResponse {
  pub status: u16,
  /// Lower-case names; repeated headers joined with ", ".
  pub headers: Vec<(String, String)>,
  pub body: String,
}

/// Why a call got no HTTP response.
#[derive(Debug)]
pub enum HttpFailure {
  InvalidUrl(Denial),
  Blocked(Denial),
  BlockedByDns {
    host: String,
    ip: IpAddr,
    denial: Denial,
  },
  LimitReached(u32),
  ProxyUnreachable {
    proxy: String,
    detail: String,
  },
  ProxyAuth,
  ProxyRefused {
    target: String,
    /// The rule the proxy named; `None` when it would not open a tunnel, which says no more.
    rule: Option<String>,
    reason: String,
  },
  /// The egress proxy could not complete the request (it could not resolve, reach or read the
  /// destination, or a limit of its own was hit).
  ProxyFailed {
    target: String,
    rule: String,
    reason: String,
  },
  Dns(String),
  Timeout(u128),
  /// The execution's wall-clock budget was spent before the request could be sent.
  BudgetSpent,
  TooLarge(usize),
  TooManyRedirects(u32),
  Tls(String),
  Other(String),
}

impl fmt::Display for HttpFailure {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      HttpFailure::InvalidUrl(d) => write!(f, "invalid URL: {d}"),
      HttpFailure::Blocked(d) => write!(f, "blocked by the egress policy ({}): {d}", d.rule()),
      HttpFailure::BlockedByDns { host, ip, denial } => {
        write!(
          f,
          "blocked by the egress policy ({}): {host} resolves to {ip}; {denial}",
          denial.rule()
        )
      }
      HttpFailure::LimitReached(n) => {
        write!(f, "HTTP request limit reached: {n} per script execution")
      }
      HttpFailure::ProxyUnreachable { proxy, detail } => {
        write!(f, "the egress proxy at {proxy} is unreachable: {detail}")
      }
      HttpFailure::ProxyAuth => write!(
        f,
        "the egress proxy refused the credentials (407 Proxy Authentication Required)"
      ),
      HttpFailure::ProxyRefused { target, reason, .. } => write!(
        f,
        "the egress proxy refused the request to {target}: {reason}"
      ),
      HttpFailure::ProxyFailed {
        target,
        rule,
        reason,
      } => {
        write!(
          f,
          "the egress proxy could not complete the request to {target} ({rule}): {reason}"
        )
      }
      HttpFailure::Dns(host) => write!(f, "DNS lookup failed for {host}"),
      HttpFailure::Timeout(ms) => write!(f, "the request timed out after {ms} ms"),
      HttpFailure::BudgetSpent => write!(
        f,
        "the request was not sent: the script's wall-clock time (wallTimeMs) is used up"
      ),
      HttpFailure::TooLarge(n) => write!(f, "the response body exceeded the limit of {n} bytes"),
      HttpFailure::TooManyRedirects(n) => write!(f, "too many redirects (more than {n})"),
      HttpFailure::Tls(detail) => write!(f, "TLS failed: {detail}"),
      HttpFailure::Other(detail) => write!(f, "the request failed: {detail}"),
    }
  }
}

impl HttpFailure {
  /// A stable code for the kind of failure, as the execution's record reports it.
  pub fn code(&self) -> &'static str {
    match self {
      HttpFailure::InvalidUrl(_) => "invalid-url",
      HttpFailure::Blocked(_) | HttpFailure::BlockedByDns { .. } => "blocked",
      HttpFailure::LimitReached(_) => "limit-reached",
      HttpFailure::ProxyUnreachable { .. } => "proxy-unreachable",
      HttpFailure::ProxyAuth => "proxy-auth",
      HttpFailure::ProxyRefused { .. } => "proxy-refused",
      HttpFailure::ProxyFailed { .. } => "proxy-failed",
      HttpFailure::Dns(_) => "dns",
      HttpFailure::Timeout(_) => "timeout",
      HttpFailure::BudgetSpent => "budget-spent",
      HttpFailure::TooLarge(_) => "too-large",
      HttpFailure::TooManyRedirects(_) => "too-many-redirects",
      HttpFailure::Tls(_) => "tls",
      HttpFailure::Other(_) => "other",
    }
  }

  /// The rule that refused the request, when the egress policy (here or at the proxy) or the
  /// proxy itself did.
  pub fn rule(&self) -> Option<&str> {
    match self {
      HttpFailure::InvalidUrl(d) | HttpFailure::Blocked(d) => Some(d.rule()),
      HttpFailure::BlockedByDns { denial, .. } => Some(denial.rule()),
      HttpFailure::ProxyAuth => Some(ProxyRule::ProxyAuth.code()),
      HttpFailure::ProxyRefused { rule, .. } => rule.as_deref(),
      HttpFailure::ProxyFailed { rule, .. } => Some(rule),
      // Only the proxy's `resolve-failed` answer is read as a DNS failure.
      HttpFailure::Dns(_) => Some(ProxyRule::ResolveFailed.code()),
      _ => None,
    }
  }
}

/// What one request (one hop of a call) leaves in the execution's record: only the host of its
/// URL, never its path or query.
fn hop_record(
  method: &Method,
  url: &str,
  started: Instant,
  outcome: Result<(u16, usize), &HttpFailure>,
) -> HttpRecord {
  let host = Url::parse(url)
    .ok()
    .and_then(|u| u.host_str().map(str::to_owned))
    .unwrap_or_default();
  let (status, bytes, error, rule) = match outcome {
    Ok((status, bytes)) => (status, bytes, None, None),
    Err(f) => (
      0,
      0,
      Some(f.code().to_string()),
      f.rule().map(str::to_owned),
    ),
  };
  HttpRecord {
    method: method.as_str().to_string(),
    host,
    status: status.into(),
    bytes: bytes as f64,
    duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    error,
    rule,
  }
}

/// Performs one call. `take_request` consumes one request from the execution's budget and says
/// whether there was one; `deadline` is the end of the execution's wall-clock budget. Every
/// request made (each hop of a redirect chain) is passed to `record`.
pub async fn fetch(
  egress: Arc<Egress>,
  mut req: HttpRequest,
  mut take_request: impl FnMut() -> bool,
  deadline: Instant,
  mut record: impl FnMut(HttpRecord),
) -> Result<HttpResponse, HttpFailure> {
  let egress = &*egress;
  let mut url = req.url.clone();
  let mut redirects = 0;
  loop {
    if !take_request() {
      return Err(HttpFailure::LimitReached(egress.max_requests));
    }
    let started = Instant::now();
    let hop = send(egress, &req, &url, started, deadline).await;
    let measured = match &hop {
      Ok((status, _, _, body, _)) => Ok((*status, body.len())),
      Err(f) => Err(f),
    };
    record(hop_record(&req.method, &url, started, measured));
    let (status, headers, location, body, parsed) = hop?;
    if let Some(location) = location {
      if redirects == egress.max_redirects {
        return Err(HttpFailure::TooManyRedirects(egress.max_redirects));
      }
      redirects += 1;
      let next = parsed.join(&location).map_err(|_| {
        HttpFailure::Other(format!("the redirect to {location:?} is not a valid URL"))
      })?;
      // As browsers do: 303 (and 301/302 after a POST) continue as a body-less GET, and
      // credentials do not follow a redirect to another origin.
      if status == 303 || (matches!(status, 301 | 302) && req.method == Method::POST) {
        if req.method != Method::HEAD {
          req.method = Method::GET;
        }
        req.body = None;
        req.headers.retain(|(n, _)| !n.starts_with("content-"));
      }
      if next.origin() != parsed.origin() {
        req
          .headers
          .retain(|(n, _)| !matches!(n.as_str(), "authorization" | "cookie"));
      }
      url = next.to_string();
      continue;
    }
    return Ok(HttpResponse {
      status,
      headers,
      body,
    });
  }
}

/// One request of a call: the policy's check, the local DNS check, and the request through the
/// proxy; a redirect is returned with its location, for the caller to follow.
async fn send(
  egress: &Egress,
  req: &HttpRequest,
  url: &str,
  started: Instant,
  deadline: Instant,
) -> Result<(u16, Vec<(String, String)>, Option<String>, String, Url), HttpFailure> {
  let hop_deadline = (started + egress.timeout).min(deadline);
  let target = egress
    .policy
    .check_url(url)
    .map_err(|d| match d.is_malformed() {
      true => HttpFailure::InvalidUrl(d),
      false => HttpFailure::Blocked(d),
    })?;
  if let TargetHost::Domain(host) = &target.host {
    check_resolved(egress, host, target.port, hop_deadline).await?;
  }
  if Instant::now() >= deadline {
    // Not even a connection is started past the end of the execution.
    return Err(HttpFailure::BudgetSpent);
  }
  let parsed = target
    .url
    .clone()
    .expect("check_url returns the parsed URL");
  let timeout_ms = hop_deadline.saturating_duration_since(started).as_millis();
  let hop = async {
    let mut builder = egress.client.request(req.method.clone(), parsed.clone());
    if !req.headers.iter().any(|(n, _)| n == "accept-encoding") {
      builder = builder.header("accept-encoding", Encoding::ACCEPTED);
    }
    for (name, value) in &req.headers {
      builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(body) = &req.body {
      builder = builder.body(body.clone());
    }
    let resp = builder
      .send()
      .await
      .map_err(|e| describe(egress, &parsed, &e))?;
    read(egress, &parsed, resp).await
  };
  let (status, headers, location, body) = tokio::time::timeout_at(hop_deadline.into(), hop)
    .await
    .map_err(|_| HttpFailure::Timeout(timeout_ms))??;
  Ok((status, headers, location, body, parsed))
}

/// The client's own look at DNS: a name that resolves here to any blocked address is refused.
/// When resolution fails here the request still goes to the proxy, which decides.
async fn check_resolved(
  egress: &Egress,
  host: &str,
  port: u16,
  deadline: Instant,
) -> Result<(), HttpFailure> {
  let resolve_deadline = deadline.min(Instant::now() + std::time::Duration::from_secs(2));
  // `name.` is the same name as `name`, but /etc/hosts only answers for the spelling without the
  // dot: both are judged, so a trailing dot cannot hide an address from this check.
  for name in lookup_names(host) {
    let lookup = tokio::net::lookup_host((name, port));
    if let Ok(Ok(addrs)) = tokio::time::timeout_at(resolve_deadline.into(), lookup).await {
      for addr in addrs {
        if let Err(denial) = egress.policy.check_addr(addr.ip()) {
          return Err(HttpFailure::BlockedByDns {
            host: host.to_string(),
            ip: addr.ip(),
            denial,
          });
        }
      }
    }
  }
  Ok(())
}

/// The spellings of a host name to resolve: as given, and without its trailing dots.
fn lookup_names(host: &str) -> Vec<&str> {
  let bare = host.trim_end_matches('.');
  if bare == host || bare.is_empty() {
    vec![host]
  } else {
    vec![host, bare]
  }
}

type Hop = (u16, Vec<(String, String)>, Option<String>, String);

/// Reads a response: a redirect's location, or the body up to the cap.
async fn read(egress: &Egress, url: &Url, mut resp: reqwest::Response) -> Result<Hop, HttpFailure> {
  let status = resp.status();
  // Through a tunnel only the destination speaks: its headers never say anything of the proxy.
  let proxy_may_answer = may_carry_markers(url.scheme());
  let from_proxy = |name: &str| proxy_may_answer && resp.headers().contains_key(name);
  if status == StatusCode::PROXY_AUTHENTICATION_REQUIRED && from_proxy("proxy-authenticate") {
    return Err(HttpFailure::ProxyAuth);
  }
  let marker = |name: &str| {
    resp
      .headers()
      .get(name)
      .filter(|_| proxy_may_answer)
      .and_then(|v| v.to_str().ok())
      .map(str::to_owned)
  };
  let (denied, proxy_error) = (marker(DENIED_HEADER), marker(ERROR_HEADER));
  let location = match status.as_u16() {
    301 | 302 | 303 | 307 | 308 => resp
      .headers()
      .get("location")
      .and_then(|v| v.to_str().ok())
      .map(str::to_string),
    _ => None,
  };
  // HeaderMap keeps a name's values together: one pass joins them.
  let mut headers: Vec<(String, String)> = Vec::with_capacity(resp.headers().keys_len());
  for name in resp.headers().keys() {
    let mut joined = String::new();
    for value in resp.headers().get_all(name) {
      if !joined.is_empty() {
        joined.push_str(", ");
      }
      joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    headers.push((name.as_str().to_string(), joined));
  }
  if location.is_some() {
    return Ok((status.as_u16(), headers, location, String::new()));
  }
  let limit = egress.max_response_bytes;
  if resp.content_length().is_some_and(|n| n > limit as u64) {
    return Err(HttpFailure::TooLarge(limit));
  }
  let encoding = Encoding::of(resp.headers().get("content-encoding"));
  // The bytes received are bounded, whatever they decode to; then the bytes they decode to.
  let mut body = Vec::new();
  while let Some(chunk) = resp.chunk().await.map_err(|e| describe(egress, url, &e))? {
    if body.len() + chunk.len() > limit {
      return Err(HttpFailure::TooLarge(limit));
    }
    body.extend_from_slice(&chunk);
  }
  if encoding != Encoding::Identity {
    body = encoding.decode(&body, limit)?;
    headers.retain(|(n, _)| n != "content-encoding" && n != "content-length");
  }
  let body = String::from_utf8_lossy(&body).into_owned();
  if let Some(failure) = proxy_answer(
    status.as_u16(),
    denied.as_deref(),
    proxy_error.as_deref(),
    &body,
    url,
  ) {
    return Err(failure);
  }
  Ok((status.as_u16(), headers, None, body))
}

/// The content codings the client asks for and decodes (`Accept-Encoding: gzip, deflate`); a body
/// in any other coding reaches the script as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
  Identity,
  Gzip,
  Deflate,
}

impl Encoding {
  pub const ACCEPTED: &'static str = "gzip, deflate";

  fn of(header: Option<&reqwest::header::HeaderValue>) -> Encoding {
    let value = header.and_then(|v| v.to_str().ok()).unwrap_or("");
    match value.trim().to_ascii_lowercase().as_str() {
      "gzip" | "x-gzip" => Encoding::Gzip,
      "deflate" => Encoding::Deflate,
      _ => Encoding::Identity,
    }
  }

  /// Decodes `body`, refusing to produce more than `limit` bytes.
  fn decode(self, body: &[u8], limit: usize) -> Result<Vec<u8>, HttpFailure> {
    use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
    use std::io::Read;
    let mut out = Vec::new();
    let cap = limit as u64 + 1;
    let read = match self {
      Encoding::Identity => return Ok(body.to_vec()),
      Encoding::Gzip => GzDecoder::new(body).take(cap).read_to_end(&mut out),
      // "deflate" is zlib-wrapped by the standard, bare deflate by some servers.
      Encoding::Deflate
        if body.len() >= 2
          && body[0] & 0x0f == 8
          && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0 =>
      {
        ZlibDecoder::new(body).take(cap).read_to_end(&mut out)
      }
      Encoding::Deflate => DeflateDecoder::new(body).take(cap).read_to_end(&mut out),
    };
    match read {
      Ok(_) if out.len() > limit => Err(HttpFailure::TooLarge(limit)),
      Ok(_) => Ok(out),
      Err(e) => Err(HttpFailure::Other(format!(
        "the response body could not be decoded ({self:?}): {e}"
      ))),
    }
  }
}

/// What an answer the egress proxy marked as its own means for the script; `None` when it is the
/// destination's. Our proxy marks refusals by the policy with [`DENIED_HEADER`] and its other
/// answers with [`ERROR_HEADER`] (see `crate::wire`), and strips both from the responses it
/// forwards; the caller passes markers only from a response that did not come through a tunnel.
fn proxy_answer(
  status: u16,
  denied: Option<&str>,
  error: Option<&str>,
  body: &str,
  url: &Url,
) -> Option<HttpFailure> {
  let reason = || body.trim().to_string();
  if let Some(rule) = denied
    .filter(|rule| Denial::RULES.contains(rule) || *rule == ProxyRule::OwnAddress.code())
    .filter(|_| status == 403)
  {
    return Some(HttpFailure::ProxyRefused {
      target: authority(url),
      rule: Some(rule.to_string()),
      reason: reason(),
    });
  }
  let rule = error
    .and_then(ProxyRule::from_code)
    .filter(|_| status >= 400)?;
  Some(match rule {
    ProxyRule::ProxyAuth => HttpFailure::ProxyAuth,
    ProxyRule::ResolveFailed => HttpFailure::Dns(url.host_str().unwrap_or_default().to_string()),
    rule => HttpFailure::ProxyFailed {
      target: authority(url),
      rule: rule.code().to_string(),
      reason: reason(),
    },
  })
}

fn authority(url: &Url) -> String {
  format!(
    "{}:{}",
    url.host_str().unwrap_or_default(),
    url.port_or_known_default().unwrap_or(0)
  )
}

/// Names a transport error in plain words, from the causes reqwest chains up (proxy, tunnel and
/// TLS problems are only told there).
fn describe(egress: &Egress, url: &Url, e: &reqwest::Error) -> HttpFailure {
  transport_failure(egress, url, &causes(e), e.is_timeout(), e.is_connect())
}

fn transport_failure(
  egress: &Egress,
  url: &Url,
  causes: &str,
  timeout: bool,
  connect: bool,
) -> HttpFailure {
  let lower = causes.to_ascii_lowercase();
  if timeout {
    return HttpFailure::Timeout(egress.timeout.as_millis());
  }
  if lower.contains("proxy authentication") || lower.contains("proxy authorization") {
    return HttpFailure::ProxyAuth;
  }
  // hyper-util's words for a proxy that answered CONNECT with another status than 200, or hung
  // up instead of answering: the proxy was reached, and it would not open the tunnel.
  if lower.contains("tunnel error: unsuccessful")
    || lower.contains("tunnel error: unexpected end of file")
  {
    return HttpFailure::ProxyRefused {
      target: authority(url),
      rule: None,
      reason: "the proxy would not open a tunnel (the destination is blocked or unreachable from the proxy)".into(),
    };
  }
  if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
    return HttpFailure::Tls(causes.to_string());
  }
  if connect {
    let detail = if lower.contains("refused") {
      "connection refused".to_string()
    } else {
      causes.to_string()
    };
    return HttpFailure::ProxyUnreachable {
      proxy: egress.proxy.clone(),
      detail,
    };
  }
  HttpFailure::Other(causes.to_string())
}

/// The error and its sources, joined, without the URL reqwest puts in its own message: the caller
/// knows it, and a port or a path (`:4070`, `/certificate`) must not be read as a cause.
fn causes(e: &reqwest::Error) -> String {
  let top = match e.url() {
    Some(url) => e.to_string().replace(&format!(" for url ({url})"), ""),
    None => e.to_string(),
  };
  let mut parts = Vec::new();
  if top != "error sending request" {
    parts.push(top);
  }
  let mut source = std::error::Error::source(e);
  while let Some(s) = source {
    parts.push(s.to_string());
    source = s.source();
  }
  parts.join(": ")
}

#[cfg(test)]
mod tests {
  use super::*;

  fn failure(causes: &str, connect: bool) -> String {
    let egress = super::super::egress_for(r#"{"url":"http://127.0.0.1:9"}"#).unwrap();
    let url = Url::parse("https://127.0.0.1:4070/certificate").unwrap();
    transport_failure(&egress, &url, causes, false, connect).to_string()
  }

  #[test]
  fn the_client_understands_every_answer_the_proxy_gives_itself() {
    use crate::proxy::refusal::Refusal;
    use http_body_util::BodyExt;
    let url = Url::parse("http://a.example/x").unwrap();
    for refusal in Refusal::one_of_each() {
      let response = refusal.response(false);
      let status = response.status().as_u16();
      let header = |name: &str| {
        response
          .headers()
          .get(name)
          .map(|v| v.to_str().unwrap().to_owned())
      };
      let (denied, error) = (header(DENIED_HEADER), header(ERROR_HEADER));
      let body = crate::io::runtime()
        .block_on(response.into_body().collect())
        .unwrap()
        .to_bytes();
      let body = String::from_utf8(body.to_vec()).unwrap();
      let failure = proxy_answer(status, denied.as_deref(), error.as_deref(), &body, &url)
        .unwrap_or_else(|| panic!("{} was taken for the destination's answer", refusal.rule()));
      let message = failure.to_string();
      match failure {
        HttpFailure::ProxyAuth => assert_eq!(refusal.rule(), "proxy-auth"),
        HttpFailure::Dns(host) => assert_eq!(
          (refusal.rule(), host.as_str()),
          ("resolve-failed", "a.example")
        ),
        HttpFailure::ProxyRefused { reason, .. } => {
          assert_eq!(status, 403);
          assert_eq!(reason, refusal.to_string(), "{message}");
        }
        HttpFailure::ProxyFailed { rule, reason, .. } => {
          assert_eq!(rule, refusal.rule());
          assert_eq!(reason, refusal.to_string(), "{message}");
        }
        other => panic!("{}: {other:?}", refusal.rule()),
      }
    }
  }

  #[test]
  fn a_destinations_answer_with_an_unknown_marker_is_its_own() {
    let url = Url::parse("http://a.example/x").unwrap();
    assert!(proxy_answer(403, Some("made-up"), None, "", &url).is_none());
    assert!(proxy_answer(502, None, Some("made-up"), "", &url).is_none());
    assert!(proxy_answer(200, None, Some("resolve-failed"), "", &url).is_none());
  }

  #[test]
  fn a_name_with_a_trailing_dot_is_also_resolved_without_it() {
    assert_eq!(lookup_names("api.example.com"), ["api.example.com"]);
    assert_eq!(
      lookup_names("api.example.com."),
      ["api.example.com.", "api.example.com"]
    );
    assert_eq!(
      lookup_names("api.example.com.."),
      ["api.example.com..", "api.example.com"]
    );
  }

  #[test]
  fn a_proxy_that_will_not_open_a_tunnel_was_reached_and_refused() {
    for causes in [
      "client error (Connect): tunnel error: unsuccessful",
      "client error (Connect): tunnel error: unexpected end of file",
    ] {
      assert_eq!(
        failure(causes, true),
        "the egress proxy refused the request to 127.0.0.1:4070: the proxy would not open a \
         tunnel (the destination is blocked or unreachable from the proxy)"
      );
    }
  }

  #[test]
  fn a_proxy_that_cannot_be_connected_to_is_unreachable() {
    assert_eq!(
      failure(
        "client error (Connect): tunnel error: failed to create underlying connection: \
         tcp connect error: Connection refused (os error 111)",
        true
      ),
      "the egress proxy at http://127.0.0.1:9 is unreachable: connection refused"
    );
  }

  #[test]
  fn credentials_refused_by_the_proxy_are_named_as_such() {
    assert_eq!(
      failure(
        "client error (Connect): tunnel error: proxy authorization required",
        true
      ),
      "the egress proxy refused the credentials (407 Proxy Authentication Required)"
    );
  }

  #[test]
  fn the_url_of_a_request_is_not_read_as_its_cause() {
    // A proxy port with nothing listening, and a URL that names a status and TLS.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!(r#"{{"url":"http://{}"}}"#, dead.local_addr().unwrap());
    drop(dead);
    let egress = super::super::egress_for(&proxy).unwrap();
    let url = Url::parse("http://127.0.0.1:4070/407/certificate").unwrap();
    let error = crate::io::runtime()
      .block_on(egress.client.get(url.clone()).send())
      .unwrap_err();
    let causes = causes(&error);
    assert!(
      !causes.contains("4070") && !causes.contains("certificate"),
      "{causes}"
    );
    let message = describe(&egress, &url, &error).to_string();
    assert!(
      message.ends_with("is unreachable: connection refused"),
      "{message}"
    );
  }
}

//! Forwarding absolute-form `http://` requests: the URL is judged by the policy, the request goes
//! to the checked address over a fresh connection in origin form, with hop-by-hop and `Proxy-*`
//! headers stripped both ways and nothing added that identifies the proxy or the client.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue, CONNECTION, HOST};
use hyper::{HeaderMap, Request, Response, Uri, Version};
use hyper_util::rt::TokioIo;
use url::{Position, Url};

use super::access::Judge;
use super::connect;
use super::decision::Pending;
use super::limits::{client_read_limit, Activity, Metered, Slot, Tap, Traffic};
use super::options::ProxySettings;
use super::refusal::Refusal;
use super::server::ProxyState;
use super::ProxyBody;
use crate::wire::{DENIED_HEADER, ERROR_HEADER};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus `Expect`, which
/// the proxy has already answered for the client. Every `proxy-*` header goes too.
const HOP_BY_HOP: [HeaderName; 8] = [
  CONNECTION,
  HeaderName::from_static("keep-alive"),
  HeaderName::from_static("proxy-connection"),
  HeaderName::from_static("te"),
  HeaderName::from_static("trailer"),
  HeaderName::from_static("transfer-encoding"),
  HeaderName::from_static("upgrade"),
  HeaderName::from_static("expect"),
];

/// Removes hop-by-hop headers, those the `Connection` header names, and every `Proxy-*` header.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
  let named: Vec<HeaderName> = headers
    .get_all(CONNECTION)
    .iter()
    .filter_map(|v| v.to_str().ok())
    .flat_map(|v| v.split(','))
    .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
    .collect();
  for name in named.iter().chain(HOP_BY_HOP.iter()) {
    headers.remove(name);
  }
  let proxy: Vec<HeaderName> = headers
    .keys()
    .filter(|name| name.as_str().starts_with("proxy-"))
    .cloned()
    .collect();
  for name in proxy {
    headers.remove(name);
  }
}

/// Serves one absolute-form request; every outcome, refusals included, is a response.
pub async fn forward(
  shared: Arc<ProxyState>,
  config: &ProxySettings,
  client: SocketAddr,
  activity: Activity,
  mut pending: Pending,
  judge: &mut Judge<'_>,
  req: Request<Incoming>,
) -> Response<ProxyBody> {
  let relayed = relay(&shared, config, client, &activity, &mut pending, judge, req).await;
  pending.note(judge.noted.take());
  match relayed {
    Ok((response, slot)) => {
      let (mut parts, body) = response.into_parts();
      strip_hop_by_hop(&mut parts.headers);
      // Only the proxy marks its own answers: a destination's markers would pass for the proxy's.
      parts.headers.remove(DENIED_HEADER);
      parts.headers.remove(ERROR_HEADER);
      pending.answered(parts.status);
      let body = Relayed {
        inner: body,
        _pending: pending,
        _slot: slot,
      };
      Response::from_parts(parts, body.boxed())
    }
    Err(refusal) => pending.into_refusal(refusal, false),
  }
}

async fn relay(
  shared: &Arc<ProxyState>,
  config: &ProxySettings,
  client: SocketAddr,
  activity: &Activity,
  pending: &mut Pending,
  judge: &mut Judge<'_>,
  req: Request<Incoming>,
) -> Result<(Response<Incoming>, Slot), Refusal> {
  let url = absolute_url(req.uri())?;
  let read_limit = client_read_limit(req.headers());
  let target = judge.check(|policy| policy.check_url(&url))?;
  let url = target.url.clone().expect("a URL target has its URL");
  if url.scheme() != "http" {
    return Err(Refusal::BadRequest(
      "https:// URLs must go through a CONNECT tunnel, not as a plain request".into(),
    ));
  }
  let slot = shared
    .slots
    .acquire(client.ip(), config.max_tunnels_per_client)?;
  let addrs = connect::resolve(config, judge, &target).await?;
  let stream = connect::connect(config, judge, &addrs).await?;
  let traffic = Arc::new(Traffic::default());
  let address = stream.peer_addr().unwrap_or(addrs[0]);
  pending.connected(address, traffic.clone());
  let upstream = Metered::new(
    stream,
    Tap {
      activity: activity.clone(),
      traffic: vec![traffic, shared.journal.traffic.clone()],
    },
  )
  .read_limit(read_limit);

  let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
    .preserve_header_case(true)
    .handshake::<_, Incoming>(TokioIo::new(upstream))
    .await
    .map_err(|e| Refusal::UpstreamFailed {
      reason: e.to_string(),
    })?;
  let (cut, idle, watched) = (shared.cut.clone(), config.idle_timeout, activity.clone());
  shared.tasks.spawn(async move {
    tokio::select! {
      _ = conn => {}
      _ = watched.idle_for(idle) => {}
      _ = cut.cancelled() => {}
    }
  });

  let upstream_req = origin_form(req, &url)?;
  let response = sender
    .send_request(upstream_req)
    .await
    .map_err(|e| Refusal::UpstreamFailed {
      reason: e.to_string(),
    })?;
  Ok((response, slot))
}

/// The request line's target, which must be absolute (`http://host/path`).
fn absolute_url(uri: &Uri) -> Result<String, Refusal> {
  if uri.scheme().is_none() || uri.authority().is_none() {
    return Err(Refusal::BadRequest(
      "this is a forward proxy: send the full URL in the request line (http://host/path), \
       or CONNECT host:port for https"
        .into(),
    ));
  }
  Ok(uri.to_string())
}

/// The client's request, rewritten for the destination: origin-form target and `Host` from the
/// URL the policy judged, the same method, body and end-to-end headers.
fn origin_form(req: Request<Incoming>, url: &Url) -> Result<Request<Incoming>, Refusal> {
  let (mut parts, body) = req.into_parts();
  strip_hop_by_hop(&mut parts.headers);
  let path = &url[Position::BeforePath..Position::AfterQuery];
  parts.uri = path.parse().map_err(|_| {
    Refusal::BadRequest("the URL's path and query cannot be sent in a request line".into())
  })?;
  let host = HeaderValue::from_str(&url[Position::BeforeHost..Position::AfterPort])
    .map_err(|_| Refusal::BadRequest("the URL's host cannot be sent in a Host header".into()))?;
  parts.headers.insert(HOST, host);
  parts.version = Version::HTTP_11;
  Ok(Request::from_parts(parts, body))
}

/// The destination's response body; reports the decision and frees the client's slot when the
/// client has it all (or goes away).
struct Relayed {
  inner: Incoming,
  _pending: Pending,
  _slot: Slot,
}

impl Body for Relayed {
  type Data = Bytes;
  type Error = hyper::Error;

  fn poll_frame(
    mut self: Pin<&mut Self>,
    cx: &mut Context<'_>,
  ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
    Pin::new(&mut self.inner).poll_frame(cx)
  }

  fn is_end_stream(&self) -> bool {
    self.inner.is_end_stream()
  }

  fn size_hint(&self) -> SizeHint {
    self.inner.size_hint()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
      map.append(
        HeaderName::from_bytes(name.as_bytes()).unwrap(),
        HeaderValue::from_str(value).unwrap(),
      );
    }
    map
  }

  fn names(map: &HeaderMap) -> Vec<&str> {
    let mut names: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
    names.sort();
    names
  }

  #[test]
  fn hop_by_hop_and_proxy_headers_are_stripped_and_the_rest_kept() {
    let mut map = headers(&[
      ("Connection", "keep-alive, X-Secret-Hop"),
      ("Connection", "x-other-hop"),
      ("Keep-Alive", "timeout=5"),
      ("Proxy-Connection", "keep-alive"),
      ("Proxy-Authorization", "Basic YTpi"),
      ("Proxy-Authenticate", "Basic"),
      ("Proxy-Anything", "x"),
      ("TE", "trailers"),
      ("Trailer", "x-checksum"),
      ("Transfer-Encoding", "chunked"),
      ("Upgrade", "websocket"),
      ("Expect", "100-continue"),
      ("X-Secret-Hop", "1"),
      ("X-Other-Hop", "2"),
      ("Accept", "application/json"),
      ("Authorization", "Bearer token"),
      ("Content-Type", "text/plain"),
      ("Content-Length", "5"),
      ("Cookie", "a=b"),
      ("X-Proxy-Like", "kept: it is not a Proxy-* header"),
    ]);
    strip_hop_by_hop(&mut map);
    assert_eq!(
      names(&map),
      [
        "accept",
        "authorization",
        "content-length",
        "content-type",
        "cookie",
        "x-proxy-like"
      ]
    );
  }

  #[test]
  fn a_connection_header_with_junk_tokens_does_not_break_stripping() {
    let mut map = headers(&[("Connection", " , close,, bad token ,"), ("Accept", "*/*")]);
    strip_hop_by_hop(&mut map);
    assert_eq!(names(&map), ["accept"]);
  }

  #[test]
  fn only_absolute_form_targets_are_forwarded() {
    let absolute: Uri = "http://example.com:8080/a?b=c".parse().unwrap();
    assert_eq!(
      absolute_url(&absolute).unwrap(),
      "http://example.com:8080/a?b=c"
    );
    for text in ["/a?b=c", "*", "example.com:443"] {
      let uri: Uri = text.parse().unwrap();
      assert!(
        matches!(absolute_url(&uri), Err(Refusal::BadRequest(_))),
        "{text}"
      );
    }
  }

  #[test]
  fn the_upstream_request_line_and_host_come_from_the_judged_url() {
    let rows = [
      (
        "http://Example.COM/a/../b?q=1#frag",
        "/b?q=1",
        "example.com",
      ),
      ("http://example.com:8080", "/", "example.com:8080"),
      ("http://example.com:80/x", "/x", "example.com"),
      ("http://2130706433:81/", "/", "127.0.0.1:81"),
      ("http://[::1]:81/p%20q", "/p%20q", "[::1]:81"),
    ];
    for (text, path, host) in rows {
      let url = Url::parse(text).unwrap();
      assert_eq!(
        &url[Position::BeforePath..Position::AfterQuery],
        path,
        "{text}"
      );
      assert_eq!(
        &url[Position::BeforeHost..Position::AfterPort],
        host,
        "{text}"
      );
      assert!(path.parse::<Uri>().is_ok());
    }
  }
}

//! The request-head guard in front of hyper: every request head a client sends is read here
//! first, whole, and judged with the parser hyper itself uses (httparse) under the proxy's own
//! bounds. A head that is too large or not valid HTTP/1.1 is then answered like every other
//! refusal (its marker header, its reason, a decision, a count) rather than with hyper's bare
//! 431 or 400, which a client could not tell from a destination's.
//!
//! A refused head is not given to hyper: in its place the guard passes a fixed head of its own
//! and notes which request (by its index on the connection) the service must refuse, so the
//! answer goes out through hyper like any other, in order. To find each head the guard follows
//! the framing of what it passes on: a body of `Content-Length` bytes, then the next head;
//! nothing more after a CONNECT (the tunnel) or a chunked body (the proxy closes the connection
//! after answering one, see [`closes_after`]).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper::header::{HeaderMap, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::{Method, Request, Uri};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::refusal::{HeadLimit, Refusal};

/// The header fields hyper parses at most (its default); the guard refuses more itself.
pub const MAX_FIELDS: usize = 100;
/// The longest request target hyper parses (its `MAX_URI_LEN`).
pub const MAX_TARGET: usize = (u16::MAX - 1) as usize;
/// How much of an oversized head is read and dropped, so that the client, still sending it,
/// reads the refusal rather than a reset; past this the refusal is sent at once.
const DISCARD_LIMIT: usize = 1 << 20;
/// What the decision of a refused head shows of its request line, at most.
const SHOWN_TARGET: usize = 1024;
/// Passed to hyper in place of a refused head: a valid request whose content is never looked at.
const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

/// A refused head, for the service to answer.
#[derive(Debug)]
pub struct RefusedHead {
  /// The request's index on its connection (0 for the first).
  pub index: u64,
  pub refusal: Refusal,
  /// What could be read of the request line, for the decision.
  pub method: String,
  pub target: String,
}

/// What the guard and the service of one connection share.
#[derive(Default)]
pub struct Heads {
  passed: AtomicU64,
  served: AtomicU64,
  refused: Mutex<Option<RefusedHead>>,
}

impl Heads {
  /// Called by the service for each request, in order: the refusal to answer it with, when the
  /// guard refused its head.
  pub fn next_request(&self) -> Option<RefusedHead> {
    let index = self.served.fetch_add(1, Ordering::Relaxed);
    let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
    match refused.as_ref() {
      Some(r) if r.index == index => refused.take(),
      _ => None,
    }
  }
}

/// Whether the proxy must close the connection after answering `req`: the guard cannot follow
/// a chunked body to the next head, so there is none.
pub fn closes_after<B>(req: &Request<B>) -> bool {
  req.method() != Method::CONNECT && req.headers().contains_key(TRANSFER_ENCODING)
}

enum State {
  /// Collecting the next head in `pending`.
  Head,
  /// Passing on this many body bytes.
  Body(u64),
  /// Passing everything on: a tunnel, or a body the guard does not frame.
  Through,
  /// Dropping the rest of an oversized head (`seen` bytes of it so far).
  Discarding { refusal: Refusal, seen: usize },
  /// A refused head's stand-in has been passed; nothing more is read.
  Done,
}

/// A client socket whose request heads are checked before hyper reads them.
pub struct HeadGuard<S> {
  inner: S,
  state: State,
  max_bytes: usize,
  heads: Arc<Heads>,
  /// Read from the socket, not yet judged.
  pending: Vec<u8>,
  /// Judged, for hyper, from `out_at` on.
  out: Vec<u8>,
  out_at: usize,
  /// The start of the refused head, kept to name its request line.
  refused_start: Vec<u8>,
  /// How much of `pending` has been searched for the end of a head.
  scanned: usize,
}

impl<S> HeadGuard<S> {
  pub fn new(inner: S, max_bytes: usize, heads: Arc<Heads>) -> Self {
    HeadGuard {
      inner,
      state: State::Head,
      max_bytes,
      heads,
      pending: Vec::new(),
      out: Vec::new(),
      out_at: 0,
      refused_start: Vec::new(),
      scanned: 0,
    }
  }

  /// Moves what can be judged from `pending` to `out`; false when more bytes are needed.
  fn judge(&mut self) -> bool {
    loop {
      match &mut self.state {
        State::Done => return true,
        State::Through => {
          self.out.append(&mut self.pending);
          return !self.out.is_empty();
        }
        State::Body(left) => {
          let n = (*left).min(self.pending.len() as u64) as usize;
          self.out.extend(self.pending.drain(..n));
          *left -= n as u64;
          if *left > 0 {
            return !self.out.is_empty();
          }
          self.state = State::Head;
        }
        State::Discarding { seen, .. } => {
          // The end of the head may straddle two reads: keep the last 3 bytes.
          let end = head_end(&self.pending);
          let total = *seen + end.unwrap_or(self.pending.len());
          if end.is_none() && total <= DISCARD_LIMIT {
            let keep = self.pending.len().saturating_sub(3);
            *seen += keep;
            self.pending.drain(..keep);
            return !self.out.is_empty();
          }
          let State::Discarding { refusal, .. } = std::mem::replace(&mut self.state, State::Done)
          else {
            unreachable!()
          };
          self.refuse(refusal);
          return true;
        }
        State::Head => {
          if self.pending.is_empty() {
            return !self.out.is_empty();
          }
          // Only the bytes not searched yet are searched (from 3 before, for a blank line cut in
          // two), so a head sent a byte at a time costs linear time, not quadratic.
          let from = self.scanned.saturating_sub(3);
          self.scanned = self.pending.len();
          let verdict = match head_end(&self.pending[from..]) {
            None => Verdict::Partial,
            Some(end) => check_head(&self.pending[..from + end], self.max_bytes),
          };
          match verdict {
            Verdict::Partial if self.pending.len() > self.max_bytes => {
              self.refused_start =
                self.pending[..self.pending.len().min(SHOWN_TARGET * 2)].to_vec();
              self.state = State::Discarding {
                refusal: Refusal::HeaderTooLarge(HeadLimit::Bytes(self.max_bytes)),
                seen: 0,
              };
            }
            Verdict::Partial => return !self.out.is_empty(),
            Verdict::Refused(refusal) => {
              self.refused_start =
                self.pending[..self.pending.len().min(SHOWN_TARGET * 2)].to_vec();
              self.state = State::Done;
              self.refuse(refusal);
              return true;
            }
            Verdict::Head { len, next } => {
              self.out.extend(self.pending.drain(..len));
              self.scanned = 0;
              self.heads.passed.fetch_add(1, Ordering::Relaxed);
              self.state = next;
            }
          }
        }
      }
    }
  }

  /// Notes the refusal for the service and passes the stand-in head in its place.
  fn refuse(&mut self, refusal: Refusal) {
    let (method, target) = request_line(&self.refused_start);
    let index = self.heads.passed.fetch_add(1, Ordering::Relaxed);
    *self.heads.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(RefusedHead {
      index,
      refusal,
      method,
      target,
    });
    self.pending = Vec::new();
    self.refused_start = Vec::new();
    self.out.extend_from_slice(STAND_IN);
  }
}

enum Verdict {
  Partial,
  Refused(Refusal),
  /// A valid head of `len` bytes, and how to read what follows it.
  Head {
    len: usize,
    next: State,
  },
}

/// Where a head ends in `bytes` (after its blank line), if it does; httparse accepts bare LFs.
fn head_end(bytes: &[u8]) -> Option<usize> {
  bytes
    .windows(2)
    .position(|w| w == b"\n\n")
    .map(|i| i + 2)
    .into_iter()
    .chain(bytes.windows(3).position(|w| w == b"\n\r\n").map(|i| i + 3))
    .min()
}

/// Judges the head at the start of `bytes`, as hyper would parse it, under the proxy's bounds.
fn check_head(bytes: &[u8], max_bytes: usize) -> Verdict {
  // Parsed only once the blank line is there, so a trickled head is not parsed again and again.
  let Some(end) = head_end(bytes) else {
    return Verdict::Partial;
  };
  if end > max_bytes {
    return Verdict::Refused(Refusal::HeaderTooLarge(HeadLimit::Bytes(max_bytes)));
  }
  let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
  let mut req = httparse::Request::new(&mut fields);
  let len = match req.parse(&bytes[..end]) {
    Ok(httparse::Status::Complete(len)) => len,
    Ok(httparse::Status::Partial) => return Verdict::Partial,
    Err(httparse::Error::TooManyHeaders) => {
      return Verdict::Refused(Refusal::HeaderTooLarge(HeadLimit::Fields(MAX_FIELDS)))
    }
    Err(e) => return bad(format!("the request head is not valid HTTP/1.1 ({e})")),
  };
  let (method, target) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
  if target.len() > MAX_TARGET {
    return Verdict::Refused(Refusal::HeaderTooLarge(HeadLimit::Target(MAX_TARGET)));
  }
  if Method::from_bytes(method.as_bytes()).is_err() {
    return bad("the request method is not valid".into());
  }
  if Uri::try_from(target).is_err() {
    return bad("the request target is not a valid URI".into());
  }
  if method == "CONNECT" {
    return Verdict::Head {
      len,
      next: State::Through,
    };
  }
  let mut headers = HeaderMap::new();
  for field in req.headers.iter() {
    if let (Ok(name), Ok(value)) = (
      hyper::header::HeaderName::from_bytes(field.name.as_bytes()),
      hyper::header::HeaderValue::from_bytes(field.value),
    ) {
      headers.append(name, value);
    }
  }
  match framing(&headers, req.version == Some(1)) {
    Ok(next) => Verdict::Head { len, next },
    Err(reason) => bad(reason),
  }
}

fn bad(reason: String) -> Verdict {
  Verdict::Refused(Refusal::BadRequest(reason))
}

/// How the body after a head is delimited. Ambiguous framing (both lengths, lengths that
/// disagree, a transfer coding that does not end in chunked) is refused, as request smuggling
/// rests on a proxy and a server reading one message two ways.
fn framing(headers: &HeaderMap, http11: bool) -> Result<State, String> {
  let lengths: Vec<&[u8]> = headers
    .get_all(CONTENT_LENGTH)
    .iter()
    .flat_map(|v| v.as_bytes().split(|&b| b == b','))
    .map(|v| v.trim_ascii())
    .collect();
  if headers.contains_key(TRANSFER_ENCODING) {
    if !lengths.is_empty() {
      return Err("the request has both Content-Length and Transfer-Encoding".into());
    }
    if !http11 {
      return Err("Transfer-Encoding needs HTTP/1.1".into());
    }
    let last = headers
      .get_all(TRANSFER_ENCODING)
      .iter()
      .filter_map(|v| v.to_str().ok())
      .flat_map(|v| v.split(','))
      .map(str::trim)
      .rfind(|c| !c.is_empty());
    if !last.is_some_and(|c| c.eq_ignore_ascii_case("chunked")) {
      return Err("the request's Transfer-Encoding does not end in chunked".into());
    }
    return Ok(State::Through);
  }
  let Some(first) = lengths.first() else {
    return Ok(State::Head);
  };
  let parse = |v: &[u8]| -> Option<u64> {
    (!v.is_empty() && v.iter().all(u8::is_ascii_digit))
      .then(|| std::str::from_utf8(v).ok()?.parse().ok())
      .flatten()
  };
  let length = parse(first).ok_or("the request's Content-Length is not a number")?;
  if lengths.iter().any(|v| parse(v) != Some(length)) {
    return Err("the request has Content-Length values that disagree".into());
  }
  Ok(if length == 0 {
    State::Head
  } else {
    State::Body(length)
  })
}

/// The method and target of a (possibly cut off or invalid) request line, for the decision log.
fn request_line(start: &[u8]) -> (String, String) {
  let line = start
    .split(|&b| b == b'\n')
    .next()
    .unwrap_or_default()
    .trim_ascii_end();
  let mut parts = line.splitn(3, |&b| b == b' ');
  let text = |bytes: Option<&[u8]>, max: usize| {
    let bytes = bytes.unwrap_or_default();
    let mut text: String = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into();
    if bytes.len() > max {
      text.push('…');
    }
    text
  };
  let method = text(parts.next(), 32);
  let target = text(parts.next(), SHOWN_TARGET);
  (method, target)
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadGuard<S> {
  fn poll_read(
    mut self: Pin<&mut Self>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
  ) -> Poll<io::Result<()>> {
    let this = &mut *self;
    loop {
      if this.out_at < this.out.len() {
        let n = (this.out.len() - this.out_at).min(buf.remaining());
        buf.put_slice(&this.out[this.out_at..this.out_at + n]);
        this.out_at += n;
        if this.out_at == this.out.len() {
          this.out.clear();
          this.out_at = 0;
        }
        return Poll::Ready(Ok(()));
      }
      match this.state {
        // Nothing more is read for a connection whose head was refused: hyper answers the
        // stand-in, closes, and the connection ends.
        State::Done => return Poll::Pending,
        // A tunnel's bytes go straight through.
        State::Through if this.pending.is_empty() => {
          return Pin::new(&mut this.inner).poll_read(cx, buf)
        }
        _ => {}
      }
      if this.judge() {
        continue;
      }
      let mut chunk = [0u8; 8192];
      let mut read = ReadBuf::new(&mut chunk);
      match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
        Poll::Pending => return Poll::Pending,
        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
        // End of stream: what is left unjudged goes to hyper as it is, which sees a cut-off
        // message and closes.
        Poll::Ready(Ok(())) if read.filled().is_empty() => {
          this.out.append(&mut this.pending);
          if this.out.is_empty() {
            return Poll::Ready(Ok(()));
          }
        }
        Poll::Ready(Ok(())) => this.pending.extend_from_slice(read.filled()),
      }
    }
  }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadGuard<S> {
  fn poll_write(
    mut self: Pin<&mut Self>,
    cx: &mut Context<'_>,
    buf: &[u8],
  ) -> Poll<io::Result<usize>> {
    Pin::new(&mut self.inner).poll_write(cx, buf)
  }

  fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    Pin::new(&mut self.inner).poll_flush(cx)
  }

  fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    Pin::new(&mut self.inner).poll_shutdown(cx)
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::wire::ProxyRule;
  use tokio::io::{AsyncReadExt, AsyncWriteExt};

  fn rule(bytes: &[u8], max: usize) -> &'static str {
    match check_head(bytes, max) {
      Verdict::Partial => "partial",
      Verdict::Refused(r) => r.rule(),
      Verdict::Head {
        next: State::Head, ..
      } => "head",
      Verdict::Head {
        next: State::Body(_),
        ..
      } => "body",
      Verdict::Head {
        next: State::Through,
        ..
      } => "through",
      Verdict::Head { .. } => "other",
    }
  }

  #[test]
  fn heads_are_judged_as_hyper_reads_them_under_the_proxys_bounds() {
    let too_large = ProxyRule::HeaderTooLarge.code();
    let bad = ProxyRule::BadRequest.code();
    let padding = "a".repeat(3000);
    let many: String = (0..=MAX_FIELDS).map(|i| format!("x-{i}: 1\r\n")).collect();
    let long_target = format!(
      "GET http://a.example/{} HTTP/1.1\r\n\r\n",
      "a".repeat(MAX_TARGET)
    );
    let rows: Vec<(String, usize, &str)> = vec![
      ("GET http://a.example/ HTTP/1.1\r\nHost: a\r\n\r\n".into(), 4096, "head"),
      ("GET http://a.example/ HTTP/1.1\nHost: a\n\n".into(), 4096, "head"),
      ("GET http://a.example/ HTTP/1.1\r\nHost: a\r\n".into(), 4096, "partial"),
      ("CONNECT a.example:443 HTTP/1.1\r\n\r\nbytes".into(), 4096, "through"),
      ("POST http://a.example/ HTTP/1.1\r\nContent-Length: 5\r\n\r\n".into(), 4096, "body"),
      ("POST http://a.example/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n".into(), 4096, "head"),
      ("POST http://a.example/ HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n".into(), 4096, "body"),
      ("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".into(), 4096, "through"),
      (format!("GET http://a.example/ HTTP/1.1\r\nX-Pad: {padding}\r\n\r\n"), 2048, too_large),
      (format!("GET http://a.example/{padding} HTTP/1.1\r\n\r\n"), 2048, too_large),
      (format!("GET http://a.example/ HTTP/1.1\r\n{many}\r\n"), 1 << 20, too_large),
      (long_target, 1 << 20, too_large),
      ("GET http://a.example/ HTTP/1.1\r\nBad Header: 1\r\n\r\n".into(), 4096, bad),
      ("GET http://a.example/ HTTP/9.9\r\n\r\n".into(), 4096, bad),
      ("G(T http://a.example/ HTTP/1.1\r\n\r\n".into(), 4096, bad),
      ("POST http://a.example/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n".into(), 4096, bad),
      ("POST http://a.example/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n".into(), 4096, bad),
      ("POST http://a.example/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n".into(), 4096, bad),
      ("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".into(), 4096, bad),
      ("POST http://a.example/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".into(), 4096, bad),
    ];
    for (head, max, expected) in rows {
      assert_eq!(rule(head.as_bytes(), max), expected, "{head:.80}");
    }
  }

  #[test]
  fn a_refused_heads_request_line_is_shown_cut_off() {
    let line = format!("GET http://a.example/{} HTTP/1.1\r\n", "a".repeat(5000));
    let (method, target) = request_line(&line.as_bytes()[..2048]);
    assert_eq!(method, "GET");
    assert_eq!(target.chars().count(), SHOWN_TARGET + 1);
    assert!(target.starts_with("http://a.example/aaa") && target.ends_with('…'));
  }

  /// Feeds `input` through a guard, as one client would send it, and reads what hyper would.
  fn through_guard(input: Vec<u8>, max: usize) -> (Vec<u8>, Option<RefusedHead>) {
    crate::io::runtime().block_on(async move {
      let (mut client, server) = tokio::io::duplex(1 << 16);
      let heads = Arc::new(Heads::default());
      let mut guard = HeadGuard::new(server, max, heads.clone());
      tokio::spawn(async move {
        for piece in input.chunks(7) {
          client.write_all(piece).await.unwrap();
        }
        // Keep the pipe open a little, as a client waiting for its answer does.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
      });
      let mut seen = Vec::new();
      let mut buf = [0u8; 100];
      while let Ok(Ok(n)) =
        tokio::time::timeout(std::time::Duration::from_millis(200), guard.read(&mut buf)).await
      {
        if n == 0 {
          break;
        }
        seen.extend_from_slice(&buf[..n]);
      }
      let refused = heads.refused.lock().unwrap().take();
      (seen, refused)
    })
  }

  #[test]
  fn good_requests_pass_unchanged_bodies_included() {
    let input = b"POST http://a.example/ HTTP/1.1\r\nContent-Length: 13\r\n\r\nGET / HTTP/1.\
                  GET http://a.example/ HTTP/1.1\r\n\r\n"
      .to_vec();
    let (seen, refused) = through_guard(input.clone(), 4096);
    assert_eq!(seen, input);
    assert!(refused.is_none());
  }

  #[test]
  fn a_refused_head_becomes_the_stand_in_and_is_noted_with_its_index() {
    let mut input = b"GET http://a.example/ HTTP/1.1\r\n\r\n".to_vec();
    let second = format!(
      "GET http://a.example/{} HTTP/1.1\r\nHost: a\r\n\r\nGET http://never.example/ HTTP/1.1\r\n\r\n",
      "b".repeat(3000)
    );
    input.extend_from_slice(second.as_bytes());
    let (seen, refused) = through_guard(input, 2048);
    let mut expected = b"GET http://a.example/ HTTP/1.1\r\n\r\n".to_vec();
    expected.extend_from_slice(STAND_IN);
    assert_eq!(
      String::from_utf8_lossy(&seen),
      String::from_utf8_lossy(&expected)
    );
    let refused = refused.unwrap();
    assert_eq!(refused.index, 1);
    assert_eq!(
      refused.refusal,
      Refusal::HeaderTooLarge(HeadLimit::Bytes(2048))
    );
    assert_eq!(refused.method, "GET");
    assert!(refused.target.starts_with("http://a.example/bbbb"));
  }

  #[test]
  fn a_head_sent_a_byte_at_a_time_is_read_in_linear_time() {
    crate::io::runtime().block_on(async {
      let (mut client, server) = tokio::io::duplex(16);
      let mut guard = HeadGuard::new(server, 1 << 20, Arc::new(Heads::default()));
      let head = format!(
        "GET http://a.example/ HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(200_000)
      );
      let expected = head.clone();
      tokio::spawn(async move {
        for byte in head.as_bytes() {
          client.write_all(&[*byte]).await.unwrap();
        }
      });
      let started = std::time::Instant::now();
      let mut seen = vec![0u8; expected.len()];
      guard.read_exact(&mut seen).await.unwrap();
      assert_eq!(seen, expected.as_bytes());
      // Searching the whole head on every byte would take minutes here.
      assert!(started.elapsed() < std::time::Duration::from_secs(20));
    });
  }

  #[test]
  fn the_service_is_told_which_request_to_refuse() {
    let heads = Heads::default();
    *heads.refused.lock().unwrap() = Some(RefusedHead {
      index: 1,
      refusal: Refusal::BadRequest("x".into()),
      method: String::new(),
      target: String::new(),
    });
    assert!(heads.next_request().is_none());
    assert!(heads.next_request().is_some());
    assert!(heads.next_request().is_none());
  }
}

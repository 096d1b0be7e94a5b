//! The listening socket, the accept loop, one hyper HTTP/1.1 connection per client, the
//! authentication of every request, and graceful shutdown.
//!
//! Shutdown: stop accepting and release the port at once; let each connection finish the request
//! it is serving (hyper's graceful shutdown) and each tunnel run, up to the shutdown timeout; then
//! cut whatever is left.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, PROXY_AUTHORIZATION};
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::access::{Judge, Usage};
use super::decision::{Journal, Pending, Sink};
use super::head::{closes_after, HeadGuard, Heads};
use super::limits::{Activity, ClientSlots, Metered, Tap};
use super::options::ProxySettings;
use super::refusal::{HeadLimit, Refusal};
use super::{forward, metrics, tunnel, ProxyBody};
use crate::error::ArgError;

/// What every connection and tunnel of one proxy shares.
pub struct ProxyState {
  /// The settings in force; each request reads them once, so a reload never changes a request
  /// half-way. `listen` and `metrics_listen` hold the bound addresses.
  settings: RwLock<Arc<ProxySettings>>,
  /// `listen` and `metricsListen` as configured, which a reload may not change.
  configured: (SocketAddr, Option<SocketAddr>),
  pub journal: Arc<Journal>,
  pub slots: Arc<ClientSlots>,
  pub usage: Usage,
  /// Connections, tunnels and upstream connection drivers.
  pub tasks: TaskTracker,
  /// Set by `close()`: finish what is running, take nothing new.
  pub draining: CancellationToken,
  /// Set when the shutdown timeout is over: stop everything now.
  pub cut: CancellationToken,
}

impl ProxyState {
  pub fn settings(&self) -> Arc<ProxySettings> {
    self
      .settings
      .read()
      .unwrap_or_else(|e| e.into_inner())
      .clone()
  }
}

/// A running proxy.
pub struct ProxyServer {
  shared: Arc<ProxyState>,
  /// Cancelled once the listening socket is closed.
  unbound: CancellationToken,
}

/// The proxy's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
  pub requests: u64,
  pub allowed: u64,
  pub reported: u64,
  pub denied: u64,
  pub auth_failures: u64,
  pub failed: u64,
  pub active_tunnels: u64,
  pub bytes_up: u64,
  pub bytes_down: u64,
  pub dropped_decisions: u64,
}

impl ProxyServer {
  /// Binds the listening socket (and the metrics listener) and starts accepting; must run on the
  /// I/O runtime. An error names the address that could not be listened on.
  pub async fn start(
    mut config: ProxySettings,
    sink: Option<Sink>,
  ) -> Result<ProxyServer, (SocketAddr, io::Error)> {
    let configured = (config.listen, config.metrics_listen);
    let bind = |addr: SocketAddr| async move {
      let listener = TcpListener::bind(addr).await.map_err(|e| (addr, e))?;
      let bound = listener.local_addr().map_err(|e| (addr, e))?;
      Ok::<_, (SocketAddr, io::Error)>((listener, bound))
    };
    let (listener, bound) = bind(config.listen).await?;
    config.listen = bound;
    let admin = match config.metrics_listen {
      Some(addr) => {
        let (admin, bound) = bind(addr).await?;
        config.metrics_listen = Some(bound);
        Some(admin)
      }
      None => None,
    };
    let shared = Arc::new(ProxyState {
      settings: RwLock::new(Arc::new(config)),
      configured,
      journal: Journal::new(sink),
      slots: Arc::default(),
      usage: Usage::default(),
      tasks: TaskTracker::new(),
      draining: CancellationToken::new(),
      cut: CancellationToken::new(),
    });
    let unbound = CancellationToken::new();
    tokio::spawn(accept_loop(listener, shared.clone(), unbound.clone()));
    if let Some(admin) = admin {
      shared
        .tasks
        .spawn(metrics::serve_admin(admin, shared.clone()));
    }
    Ok(ProxyServer { shared, unbound })
  }

  pub fn local_addr(&self) -> SocketAddr {
    self.shared.settings().listen
  }

  pub fn metrics_addr(&self) -> Option<SocketAddr> {
    self.shared.settings().metrics_listen
  }

  /// Puts new settings in force for every request from now on; requests and tunnels under way
  /// go on under the settings they started with. The listening addresses cannot change.
  pub fn reload(&self, mut config: ProxySettings) -> Result<(), ArgError> {
    let shared = &self.shared;
    let current = shared.settings();
    let unchanged = |field: &str, configured: String, now: String| ArgError::Value {
      name: format!("options.{field}"),
      reason: format!(
        "cannot change while the proxy runs (it is {configured}, listening on {now}): restart \
         the proxy to change it"
      ),
    };
    if config.listen != shared.configured.0 {
      return Err(unchanged(
        "listen",
        shared.configured.0.to_string(),
        current.listen.to_string(),
      ));
    }
    if config.metrics_listen != shared.configured.1 {
      let show = |a: Option<SocketAddr>| a.map_or("not set".to_owned(), |a| a.to_string());
      return Err(unchanged(
        "metricsListen",
        show(shared.configured.1),
        show(current.metrics_listen),
      ));
    }
    config.listen = current.listen;
    config.metrics_listen = current.metrics_listen;
    *shared.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    Ok(())
  }

  pub fn stats(&self) -> StatsSnapshot {
    let j = &self.shared.journal;
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let (bytes_up, bytes_down) = j.traffic.get();
    StatsSnapshot {
      requests: get(&j.requests),
      allowed: get(&j.allowed),
      reported: get(&j.reported),
      denied: get(&j.denied),
      auth_failures: get(&j.auth_failures),
      failed: get(&j.failed),
      active_tunnels: self.shared.slots.active() as u64,
      bytes_up,
      bytes_down,
      dropped_decisions: get(&j.dropped_decisions),
    }
  }

  /// Stops accepting and releases the port, waits up to the shutdown timeout for running
  /// requests and tunnels, then cuts the rest. Safe to call more than once.
  pub async fn close(&self) {
    let shared = &self.shared;
    shared.draining.cancel();
    self.unbound.cancelled().await;
    shared.tasks.close();
    let timeout = shared.settings().shutdown_timeout;
    let _ = tokio::time::timeout(timeout, shared.tasks.wait()).await;
    shared.cut.cancel();
    shared.tasks.wait().await;
    shared.journal.detach_sink();
  }
}

async fn accept_loop(listener: TcpListener, shared: Arc<ProxyState>, unbound: CancellationToken) {
  loop {
    let accepted = tokio::select! {
      accepted = listener.accept() => accepted,
      _ = shared.draining.cancelled() => break,
    };
    match accepted {
      Ok((stream, client)) => {
        shared
          .tasks
          .spawn(serve_client(shared.clone(), stream, client));
      }
      // Out of file descriptors and the like: back off rather than spin.
      Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
    }
  }
  drop(listener);
  unbound.cancel();
}

/// One client connection: HTTP/1.1 with keep-alive, upgraded to a tunnel after a CONNECT. Every
/// request head goes through the [`HeadGuard`] before hyper reads it.
async fn serve_client(shared: Arc<ProxyState>, stream: TcpStream, client: SocketAddr) {
  let _ = stream.set_nodelay(true);
  let config = shared.settings();
  let activity = Activity::new();
  let heads = Arc::new(Heads::default());
  let io = HeadGuard::new(
    Metered::new(
      stream,
      Tap {
        activity: activity.clone(),
        traffic: Vec::new(),
      },
    ),
    config.max_header_bytes,
    heads.clone(),
  );
  let service = {
    let (shared, activity) = (shared.clone(), activity.clone());
    service_fn(move |req| {
      let (shared, activity, heads) = (shared.clone(), activity.clone(), heads.clone());
      async move { Ok::<_, Infallible>(handle(shared, client, activity, &heads, req).await) }
    })
  };
  // The guard enforces the head limits, with its own answers; hyper's are a backstop.
  let conn = hyper::server::conn::http1::Builder::new()
    .preserve_header_case(true)
    .auto_date_header(false)
    .max_header_size(config.max_header_bytes)
    .max_buf_size((config.max_header_bytes + 8192).max(DEFAULT_MAX_BUF))
    .timer(TokioTimer::new())
    .header_read_timeout(config.idle_timeout.min(Duration::from_secs(30)))
    .serve_connection(TokioIo::new(io), service)
    .with_upgrades();
  tokio::pin!(conn);
  let idle = activity.idle_for(config.idle_timeout);
  tokio::pin!(idle);
  let mut draining = false;
  loop {
    tokio::select! {
      served = conn.as_mut() => {
        if let Err(e) = served {
          decide_unparsed(&shared, client, &e);
        }
        break;
      }
      _ = &mut idle => break,
      _ = shared.cut.cancelled() => break,
      _ = shared.draining.cancelled(), if !draining => {
        draining = true;
        conn.as_mut().graceful_shutdown();
      }
    }
  }
}

/// hyper's default read buffer limit, which a large `maxHeaderBytes` raises.
const DEFAULT_MAX_BUF: usize = 8192 + 4096 * 100;

/// A request hyper answered itself (a head the guard passed but hyper could not parse): it is
/// counted and decided too, though its answer lacks the proxy's marker.
fn decide_unparsed(shared: &ProxyState, client: SocketAddr, e: &hyper::Error) {
  if !(e.is_parse() || e.is_parse_too_large()) {
    return;
  }
  let mut pending = Pending::start(shared.journal.clone(), client, "", "");
  pending.refuse(if e.is_parse_too_large() {
    Refusal::HeaderTooLarge(HeadLimit::Bytes(shared.settings().max_header_bytes))
  } else {
    Refusal::BadRequest(format!("the request is not valid HTTP/1.1 ({e})"))
  });
}

/// Authenticates the request, holds it to its credential's limits, then tunnels or forwards it
/// under its credential's rules.
async fn handle(
  shared: Arc<ProxyState>,
  client: SocketAddr,
  activity: Activity,
  heads: &Heads,
  req: Request<Incoming>,
) -> Response<ProxyBody> {
  if let Some(refused) = heads.next_request() {
    let pending = Pending::start(
      shared.journal.clone(),
      client,
      &refused.method,
      &refused.target,
    );
    return pending.into_refusal(refused.refusal, true);
  }
  let config = shared.settings();
  let connect = req.method() == Method::CONNECT;
  let close_after = closes_after(&req);
  let mut pending = Pending::start(
    shared.journal.clone(),
    client,
    req.method().as_str(),
    &req.uri().to_string(),
  );
  let authorization = req.headers().get(PROXY_AUTHORIZATION).map(|v| v.as_bytes());
  let access = match config.credentials.check(authorization) {
    Ok(index) => config.access[index].clone(),
    Err(failure) => {
      pending.set_username(failure.username());
      return pending.into_refusal(Refusal::Auth(failure), connect || close_after);
    }
  };
  pending.set_username(Some(&access.username));
  let mut judge = Judge::new(&config.policy, &access);
  match shared.usage.admit(&mut judge, Instant::now()) {
    Ok(in_flight) => pending.hold(in_flight),
    Err(refusal) => return pending.into_refusal(refusal, connect || close_after),
  }
  let mut response = if connect {
    tunnel::open(
      shared.clone(),
      &config,
      client,
      activity,
      pending,
      &mut judge,
      req,
    )
    .await
  } else {
    forward::forward(
      shared.clone(),
      &config,
      client,
      activity,
      pending,
      &mut judge,
      req,
    )
    .await
  };
  if close_after {
    response
      .headers_mut()
      .insert(CONNECTION, HeaderValue::from_static("close"));
  }
  response
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::proxy::decision::Decision;
  use std::sync::Mutex;
  use tokio::io::{AsyncReadExt, AsyncWriteExt};

  const AUTH: &str = "Proxy-Authorization: Basic YXBwOnMzY3JldA==\r\n"; // app:s3cret

  async fn start(allowed: &[&str]) -> (ProxyServer, Arc<Mutex<Vec<Decision>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = seen.clone();
    let sink: Sink = Box::new(move |d| {
      sink_seen.lock().unwrap().push(d);
      true
    });
    let server = ProxyServer::start(ProxySettings::for_test(allowed), Some(sink))
      .await
      .unwrap();
    (server, seen)
  }

  /// A server on 127.0.0.1 that answers every connection with what it read, as an HTTP body.
  async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
      while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
          let mut buf = vec![0; 4096];
          let mut head = Vec::new();
          while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
              return;
            }
            head.extend_from_slice(&buf[..n]);
          }
          let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\r\n",
            head.len()
          );
          let _ = stream.write_all(reply.as_bytes()).await;
          let _ = stream.write_all(&head).await;
        });
      }
    });
    addr
  }

  /// Sends `request` to the proxy; reads one response (head and Content-Length body), then on
  /// until `then` has been seen too, if given.
  async fn exchange(proxy: SocketAddr, request: &str, then: Option<&str>) -> String {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    let mut buf = [0; 4096];
    let complete = |out: &str| {
      let Some((head, body)) = out.split_once("\r\n\r\n") else {
        return false;
      };
      let length = head
        .lines()
        .find_map(|l| {
          l.to_lowercase()
            .strip_prefix("content-length: ")
            .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
      body.len() >= length && then.is_none_or(|t| body.contains(t))
    };
    while !complete(&out) {
      match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        _ => break,
      }
    }
    out
  }

  #[test]
  fn forwards_an_authenticated_request_without_proxy_or_hop_headers() {
    crate::io::runtime().block_on(async {
      let (server, seen) = start(&["127.0.0.0/8"]).await;
      let up = upstream().await;
      let request = format!(
        "GET http://{up}/echo?x=1 HTTP/1.1\r\nHost: ignored.example\r\n{AUTH}\
         Proxy-Connection: keep-alive\r\nConnection: X-Private\r\nX-Private: 1\r\nX-Kept: 2\r\n\r\n"
      );
      let reply = exchange(server.local_addr(), &request, None).await;
      assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
      let (head, body) = reply.split_once("\r\n\r\n").unwrap();
      assert!(!head.to_lowercase().contains("x-hop"), "{head}");
      assert!(body.starts_with("GET /echo?x=1 HTTP/1.1\r\n"), "{body}");
      let lower = body.to_lowercase();
      assert!(lower.contains(&format!("host: {up}\r\n")), "{body}");
      assert!(lower.contains("x-kept: 2"), "{body}");
      for gone in [
        "proxy-",
        "x-private",
        "ignored.example",
        "via:",
        "forwarded",
      ] {
        assert!(!lower.contains(gone), "{gone} in {body}");
      }
      server.close().await;
      let decisions = seen.lock().unwrap().clone();
      assert!(decisions.iter().all(|d| d.allowed && d.status == 200));
      assert_eq!(decisions[0].address, Some(up));
      assert_eq!(decisions[0].username.as_deref(), Some("app"));
      assert!(decisions[0].bytes_up > 0 && decisions[0].bytes_down > 0);
    });
  }

  #[test]
  fn refuses_without_credentials_and_blocked_destinations() {
    crate::io::runtime().block_on(async {
      let (server, seen) = start(&[]).await;
      let up = upstream().await;
      let proxy = server.local_addr();
      let reply = exchange(proxy, &format!("GET http://{up}/ HTTP/1.1\r\n\r\n"), None).await;
      assert!(reply.starts_with("HTTP/1.1 407"), "{reply}");
      assert!(reply.contains("proxy-authenticate: Basic realm=\"backend-scripts egress\""));
      let reply = exchange(proxy, &format!("CONNECT {up} HTTP/1.1\r\n{AUTH}\r\n"), None).await;
      assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
      assert!(
        reply.contains("x-egress-denied: blocked-address\r\n"),
        "{reply}"
      );
      assert!(reply.ends_with(
        "destination 127.0.0.1 is blocked: loopback address (127.0.0.0/8), which is this machine\n"
      ));
      server.close().await;
      let rules: Vec<_> = seen.lock().unwrap().iter().map(|d| d.rule).collect();
      assert_eq!(rules, [Some("proxy-auth"), Some("blocked-address")]);
      let stats = server.stats();
      assert_eq!(
        (stats.requests, stats.auth_failures, stats.denied),
        (2, 1, 1)
      );
    });
  }

  #[test]
  fn tunnels_bytes_both_ways_and_refuses_its_own_address() {
    crate::io::runtime().block_on(async {
      let (server, _seen) = start(&["127.0.0.0/8"]).await;
      let up = upstream().await;
      let proxy = server.local_addr();
      let reply = exchange(
        proxy,
        &format!("CONNECT {up} HTTP/1.1\r\n{AUTH}\r\nPING / HTTP/1.1\r\n\r\n"),
        Some("PING / HTTP/1.1\r\n\r\n"),
      )
      .await;
      assert!(
        reply.starts_with("HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK"),
        "{reply}"
      );
      let reply = exchange(
        proxy,
        &format!("CONNECT {proxy} HTTP/1.1\r\n{AUTH}\r\n"),
        None,
      )
      .await;
      assert!(reply.contains("x-egress-denied: own-address"), "{reply}");
      server.close().await;
      assert!(TcpStream::connect(proxy).await.is_err());
    });
  }
}

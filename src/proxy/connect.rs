//! From a checked target to an open upstream socket: resolve the host (with its own timeout),
//! judge EVERY address with the policy and refuse if any is blocked, then connect to one of those
//! very addresses. The name is never resolved again, so DNS rebinding between the check and the
//! connection is impossible; the address connected to is checked once more, against the proxy's
//! own listening address too.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;

use super::access::Judge;
use super::dns;
use super::options::ProxySettings;
use super::refusal::Refusal;
use crate::policy::{Target, TargetHost};

/// Resolves and judges `target`; the addresses returned all passed the policy.
pub async fn resolve(
  config: &ProxySettings,
  judge: &mut Judge<'_>,
  target: &Target,
) -> Result<Vec<SocketAddr>, Refusal> {
  let name = match &target.host {
    TargetHost::Ip(ip) => return judge_all(config, judge, &[*ip], target.port),
    TargetHost::Domain(name) => name,
  };
  let failed = |reason: String| Refusal::ResolveFailed {
    host: name.clone(),
    reason,
  };
  let lookup = async {
    match config.resolver {
      Some(server) => dns::lookup(server, name)
        .await
        .map_err(|e| failed(e.to_string())),
      None => tokio::net::lookup_host((name.as_str(), target.port))
        .await
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .map_err(|e| failed(e.to_string())),
    }
  };
  let ips: Vec<IpAddr> = tokio::time::timeout(config.resolve_timeout, lookup)
    .await
    .map_err(|_| Refusal::ResolveTimeout {
      host: name.clone(),
      limit: config.resolve_timeout,
    })??;
  if ips.is_empty() {
    return Err(failed("the name has no IPv4 or IPv6 address".into()));
  }
  judge_all(config, judge, &ips, target.port)
}

/// Every address must pass: one blocked answer refuses the whole name.
fn judge_all(
  config: &ProxySettings,
  judge: &mut Judge<'_>,
  ips: &[IpAddr],
  port: u16,
) -> Result<Vec<SocketAddr>, Refusal> {
  let mut addrs: Vec<SocketAddr> = Vec::with_capacity(ips.len());
  for &ip in ips {
    judge.check(|policy| policy.check_addr(ip))?;
    let addr = SocketAddr::new(ip, port);
    if config
      .own_addresses()
      .any(|own| targets_listener(addr, own))
    {
      return Err(Refusal::OwnAddress { addr });
    }
    if !addrs.contains(&addr) {
      addrs.push(addr);
    }
  }
  Ok(addrs)
}

/// Connects to the first of `addrs` that accepts, within the connect timeout overall.
pub async fn connect(
  config: &ProxySettings,
  judge: &mut Judge<'_>,
  addrs: &[SocketAddr],
) -> Result<TcpStream, Refusal> {
  let deadline = tokio::time::Instant::now() + config.connect_timeout;
  let mut last = None;
  for &addr in addrs {
    let attempt = tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await;
    match attempt {
      Err(_) => {
        return Err(Refusal::ConnectTimeout {
          addr,
          limit: config.connect_timeout,
        })
      }
      Ok(Err(e)) => {
        last = Some(Refusal::ConnectFailed {
          addr,
          reason: plain_io_error(&e),
        })
      }
      Ok(Ok(stream)) => {
        let local = stream.local_addr().ok();
        let peer = stream.peer_addr().ok();
        // The socket is bound to the address that was judged; judge it as connected anyway.
        if let Some(peer) = peer {
          judge.check(|policy| policy.check_addr(peer.ip()))?;
          if config
            .own_addresses()
            .any(|own| connected_to_listener(local, peer, own))
          {
            return Err(Refusal::OwnAddress { addr: peer });
          }
        }
        let _ = stream.set_nodelay(true);
        return Ok(stream);
      }
    }
  }
  Err(last.unwrap_or(Refusal::ConnectFailed {
    addr: SocketAddr::from(([0, 0, 0, 0], 0)),
    reason: "no address to connect to".into(),
  }))
}

/// `connection refused` rather than `Connection refused (os error 111)`.
fn plain_io_error(e: &std::io::Error) -> String {
  let text = e.to_string();
  let text = text.split(" (os error").next().unwrap_or(&text);
  text.to_lowercase()
}

/// Whether connecting to `addr` would reach the proxy's own listener: the same address, or, for a
/// listener on all interfaces, a loopback or unspecified address on its port.
pub fn targets_listener(addr: SocketAddr, listen: SocketAddr) -> bool {
  if addr.port() != listen.port() {
    return false;
  }
  let ip = addr.ip().to_canonical();
  let own = listen.ip().to_canonical();
  // Connecting to 0.0.0.0 or :: reaches this machine on Linux and macOS.
  ip == own || ip.is_unspecified() || (own.is_unspecified() && ip.is_loopback())
}

/// After connecting: a socket whose local and remote addresses are the same address reached this
/// machine, so on the listener's port it reached the proxy (when it listens on all interfaces).
fn connected_to_listener(local: Option<SocketAddr>, peer: SocketAddr, listen: SocketAddr) -> bool {
  targets_listener(peer, listen)
    || (peer.port() == listen.port()
      && listen.ip().is_unspecified()
      && local.is_some_and(|l| l.ip().to_canonical() == peer.ip().to_canonical()))
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::time::Duration;

  fn config(allowed: &[&str], listen: &str) -> ProxySettings {
    ProxySettings {
      listen: listen.parse().unwrap(),
      ..ProxySettings::for_test(allowed)
    }
  }

  fn sock(text: &str) -> SocketAddr {
    text.parse().unwrap()
  }

  #[test]
  fn the_listener_is_recognized_in_every_spelling() {
    let listen = sock("127.0.0.1:3128");
    assert!(targets_listener(sock("127.0.0.1:3128"), listen));
    assert!(targets_listener(sock("[::ffff:127.0.0.1]:3128"), listen));
    assert!(targets_listener(sock("0.0.0.0:3128"), listen));
    assert!(targets_listener(sock("[::]:3128"), listen));
    assert!(!targets_listener(sock("127.0.0.2:3128"), listen));
    assert!(!targets_listener(sock("127.0.0.1:3129"), listen));
    let any = sock("0.0.0.0:3128");
    assert!(targets_listener(sock("127.0.0.9:3128"), any));
    assert!(targets_listener(sock("[::1]:3128"), any));
    assert!(!targets_listener(sock("93.184.216.34:3128"), any));
    let peer = sock("10.1.2.3:3128");
    assert!(connected_to_listener(
      Some(sock("10.1.2.3:50000")),
      peer,
      any
    ));
    assert!(!connected_to_listener(
      Some(sock("10.1.2.4:50000")),
      peer,
      any
    ));
    assert!(!connected_to_listener(
      Some(sock("10.1.2.3:50000")),
      peer,
      listen
    ));
  }

  /// Judges `ips` as the test config's only credential.
  fn judge(c: &ProxySettings, ips: &[IpAddr], port: u16) -> Result<Vec<SocketAddr>, Refusal> {
    let mut judge = Judge::new(&c.policy, &c.access[0]);
    judge_all(c, &mut judge, ips, port)
  }

  #[test]
  fn one_blocked_address_refuses_the_whole_answer() {
    let c = config(&[], "127.0.0.1:3128");
    let ips: Vec<IpAddr> = vec![
      "93.184.216.34".parse().unwrap(),
      "127.0.0.1".parse().unwrap(),
    ];
    match judge(&c, &ips, 80) {
      Err(Refusal::Policy(denial)) => assert_eq!(denial.rule(), "blocked-address"),
      other => panic!("{other:?}"),
    }
    let public: Vec<IpAddr> = vec!["93.184.216.34".parse().unwrap()];
    assert_eq!(judge(&c, &public, 80), Ok(vec![sock("93.184.216.34:80")]));
  }

  #[test]
  fn an_allowed_loopback_address_on_the_proxy_port_is_the_proxy() {
    let c = config(&["127.0.0.0/8"], "127.0.0.1:3128");
    let ips: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap()];
    assert_eq!(
      judge(&c, &ips, 3128),
      Err(Refusal::OwnAddress {
        addr: sock("127.0.0.1:3128")
      })
    );
    assert_eq!(judge(&c, &ips, 8080), Ok(vec![sock("127.0.0.1:8080")]));
  }

  #[test]
  fn the_metrics_listener_is_the_proxy_too() {
    let mut c = config(&["127.0.0.0/8"], "127.0.0.1:3128");
    c.metrics_listen = Some(sock("127.0.0.1:9090"));
    let ips: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap()];
    assert_eq!(
      judge(&c, &ips, 9090),
      Err(Refusal::OwnAddress {
        addr: sock("127.0.0.1:9090")
      })
    );
  }

  #[test]
  fn a_literal_address_is_judged_without_resolving() {
    crate::io::runtime().block_on(async {
      let c = config(&[], "127.0.0.1:3128");
      let target = c.policy.check_authority("93.184.216.34:443").unwrap();
      let mut judge = Judge::new(&c.policy, &c.access[0]);
      assert_eq!(
        resolve(&c, &mut judge, &target).await,
        Ok(vec![sock("93.184.216.34:443")])
      );
    });
  }

  #[test]
  fn a_refused_connection_and_a_silent_listener_are_told_apart() {
    crate::io::runtime().block_on(async {
      let c = config(&["127.0.0.0/8"], "127.0.0.1:3128");
      // A port with nothing listening refuses at once.
      let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
      let closed_addr = closed.local_addr().unwrap();
      drop(closed);
      let mut judge = Judge::new(&c.policy, &c.access[0]);
      match connect(&c, &mut judge, &[closed_addr]).await {
        Err(Refusal::ConnectFailed { addr, reason }) => {
          assert_eq!(addr, closed_addr);
          assert_eq!(reason, "connection refused");
        }
        other => panic!("{other:?}"),
      }
      // A listener whose backlog is full and never accepts leaves the handshake hanging.
      let socket = tokio::net::TcpSocket::new_v4().unwrap();
      socket.bind(sock("127.0.0.1:0")).unwrap();
      let listener = socket.listen(0).unwrap();
      let full = listener.local_addr().unwrap();
      let mut held = Vec::new();
      for _ in 0..4 {
        if let Ok(Ok(s)) =
          tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(full)).await
        {
          held.push(s);
        }
      }
      let started = std::time::Instant::now();
      match connect(&c, &mut judge, &[full]).await {
        Err(Refusal::ConnectTimeout { addr, .. }) => assert_eq!(addr, full),
        other => panic!("{other:?}"),
      }
      assert!(started.elapsed() >= Duration::from_millis(250));
    });
  }
}

//! CONNECT tunnels (how clients reach `https://` destinations): the authority is judged by the
//! policy, the checked address is connected to BEFORE the client hears 200 (so a refusal or a
//! failure is still an HTTP answer), then bytes are relayed both ways until either side closes,
//! the tunnel goes idle, or the proxy is closed.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::access::Judge;
use super::connect;
use super::decision::Pending;
use super::limits::{client_read_limit, Activity, Metered, Tap, Traffic};
use super::options::ProxySettings;
use super::refusal::Refusal;
use super::server::ProxyState;
use super::ProxyBody;

/// Answers one CONNECT; on success the tunnel runs in a task of its own.
pub async fn open(
  shared: Arc<ProxyState>,
  config: &ProxySettings,
  client: SocketAddr,
  activity: Activity,
  mut pending: Pending,
  judge: &mut Judge<'_>,
  mut req: Request<Incoming>,
) -> Response<ProxyBody> {
  let authority = req.uri().to_string();
  let read_limit = client_read_limit(req.headers());
  let opened = async {
    let target = judge.check(|policy| policy.check_authority(&authority))?;
    let slot = shared
      .slots
      .acquire(client.ip(), config.max_tunnels_per_client)?;
    let addrs = connect::resolve(config, judge, &target).await?;
    let stream = connect::connect(config, judge, &addrs).await?;
    Ok::<_, Refusal>((slot, addrs, stream))
  };
  let opened = opened.await;
  pending.note(judge.noted.take());
  let (slot, addrs, stream) = match opened {
    Ok(opened) => opened,
    Err(refusal) => return pending.into_refusal(refusal, true),
  };
  let traffic = Arc::new(Traffic::default());
  pending.connected(stream.peer_addr().unwrap_or(addrs[0]), traffic.clone());
  pending.answered(StatusCode::OK);
  let mut upstream = Metered::new(
    stream,
    Tap {
      activity: activity.clone(),
      traffic: vec![traffic, shared.journal.traffic.clone()],
    },
  )
  .read_limit(read_limit);

  let upgrade = hyper::upgrade::on(&mut req);
  let (cut, idle) = (shared.cut.clone(), config.idle_timeout);
  shared.tasks.spawn(async move {
    // Both are dropped when the tunnel ends: the decision is reported, the slot freed.
    let _pending = pending;
    let _slot = slot;
    let Ok(upgraded) = upgrade.await else { return };
    let mut downstream = TokioIo::new(upgraded);
    tokio::select! {
      _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream) => {}
      _ = activity.idle_for(idle) => {}
      _ = cut.cancelled() => {}
    }
  });

  let mut response = Response::new(Empty::new().map_err(|e| match e {}).boxed());
  *response.status_mut() = StatusCode::OK;
  response
}

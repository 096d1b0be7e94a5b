//! The proxy's own limits: upstream connections per client, and the idle timeout, which needs
//! every socket to report when bytes last moved (and how many, for the decision log and stats).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::refusal::Refusal;

/// When bytes last moved on a client connection or on any upstream socket serving it.
#[derive(Clone)]
pub struct Activity(Arc<ActivityInner>);

struct ActivityInner {
  origin: Instant,
  last_ms: AtomicU64,
}

impl Activity {
  pub fn new() -> Self {
    Activity(Arc::new(ActivityInner {
      origin: Instant::now(),
      last_ms: AtomicU64::new(0),
    }))
  }

  fn touch(&self) {
    let ms = self.0.origin.elapsed().as_millis() as u64;
    self.0.last_ms.fetch_max(ms, Ordering::Relaxed);
  }

  fn last(&self) -> Instant {
    self.0.origin + Duration::from_millis(self.0.last_ms.load(Ordering::Relaxed))
  }

  /// Completes once no byte has moved for `timeout`.
  pub async fn idle_for(&self, timeout: Duration) {
    loop {
      let deadline = self.last() + timeout;
      if Instant::now() >= deadline {
        return;
      }
      tokio::time::sleep_until(deadline.into()).await;
    }
  }
}

/// Byte counts in both directions; `up` is toward the destination.
#[derive(Default)]
pub struct Traffic {
  pub up: AtomicU64,
  pub down: AtomicU64,
}

impl Traffic {
  pub fn get(&self) -> (u64, u64) {
    (
      self.up.load(Ordering::Relaxed),
      self.down.load(Ordering::Relaxed),
    )
  }
}

/// What a [`Metered`] socket reports to.
#[derive(Clone)]
pub struct Tap {
  pub activity: Activity,
  /// Counts for the request this socket serves, and the proxy's totals; both only on upstream
  /// sockets, where reading is "down" and writing is "up".
  pub traffic: Vec<Arc<Traffic>>,
}

/// A socket that reports its traffic to a [`Tap`], and fails once it has read more than its
/// limit (the client's [`MAX_BYTES_HEADER`](crate::wire::MAX_BYTES_HEADER)) since it last wrote:
/// a connection kept alive (a tunnel the client's pool reuses) carries one response per request,
/// and each request starts the count again, while a destination that never stops answering one
/// request (interim responses without end) is cut off.
pub struct Metered<S> {
  inner: S,
  tap: Tap,
  /// Bytes read since the last write.
  read: u64,
  read_limit: Option<u64>,
}

impl<S> Metered<S> {
  pub fn new(inner: S, tap: Tap) -> Self {
    Metered {
      inner,
      tap,
      read: 0,
      read_limit: None,
    }
  }

  /// Fails reads once more than `limit` bytes came in.
  pub fn read_limit(mut self, limit: Option<u64>) -> Self {
    self.read_limit = limit;
    self
  }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
  fn poll_read(
    mut self: Pin<&mut Self>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
  ) -> Poll<io::Result<()>> {
    let before = buf.filled().len();
    let result = Pin::new(&mut self.inner).poll_read(cx, buf);
    let n = (buf.filled().len() - before) as u64;
    if n > 0 {
      self.tap.activity.touch();
      for t in &self.tap.traffic {
        t.down.fetch_add(n, Ordering::Relaxed);
      }
      self.read += n;
      if let Some(limit) = self.read_limit.filter(|&limit| self.read > limit) {
        return Poll::Ready(Err(io::Error::other(format!(
          "the destination sent more than the {limit} bytes its client allows"
        ))));
      }
    }
    result
  }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
  fn poll_write(
    mut self: Pin<&mut Self>,
    cx: &mut Context<'_>,
    buf: &[u8],
  ) -> Poll<io::Result<usize>> {
    let result = Pin::new(&mut self.inner).poll_write(cx, buf);
    if let Poll::Ready(Ok(n)) = result {
      if n > 0 {
        self.read = 0;
        self.tap.activity.touch();
        for t in &self.tap.traffic {
          t.up.fetch_add(n as u64, Ordering::Relaxed);
        }
      }
    }
    result
  }

  fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    Pin::new(&mut self.inner).poll_flush(cx)
  }

  fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    Pin::new(&mut self.inner).poll_shutdown(cx)
  }
}

/// The client's limit on what a destination may send ([`MAX_BYTES_HEADER`]), when it gave a
/// valid one.
///
/// [`MAX_BYTES_HEADER`]: crate::wire::MAX_BYTES_HEADER
pub fn client_read_limit(headers: &hyper::HeaderMap) -> Option<u64> {
  headers
    .get(crate::wire::MAX_BYTES_HEADER)?
    .to_str()
    .ok()?
    .trim()
    .parse()
    .ok()
}

/// Upstream connections held per client IP address.
#[derive(Default)]
pub struct ClientSlots {
  held: Mutex<HashMap<IpAddr, usize>>,
  active: AtomicUsize,
}

/// One upstream connection counted against its client; released on drop.
pub struct Slot {
  slots: Arc<ClientSlots>,
  ip: IpAddr,
}

impl ClientSlots {
  /// Takes one of the at most `max` connections `ip` may hold (the limit in force now: a reload
  /// may change it).
  pub fn acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Result<Slot, Refusal> {
    let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
    let count = held.entry(ip).or_insert(0);
    if *count >= max {
      return Err(Refusal::TunnelLimit { limit: max });
    }
    *count += 1;
    self.active.fetch_add(1, Ordering::Relaxed);
    Ok(Slot {
      slots: self.clone(),
      ip,
    })
  }

  /// Upstream connections held now, by all clients.
  pub fn active(&self) -> usize {
    self.active.load(Ordering::Relaxed)
  }
}

impl Drop for Slot {
  fn drop(&mut self) {
    let mut held = self.slots.held.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(count) = held.get_mut(&self.ip) {
      *count -= 1;
      if *count == 0 {
        held.remove(&self.ip);
      }
    }
    self.slots.active.fetch_sub(1, Ordering::Relaxed);
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use tokio::io::{AsyncReadExt, AsyncWriteExt};

  #[test]
  fn slots_are_counted_per_client_and_released_on_drop() {
    let slots = Arc::new(ClientSlots::default());
    let a: IpAddr = "127.0.0.1".parse().unwrap();
    let b: IpAddr = "127.0.0.2".parse().unwrap();
    let first = slots.acquire(a, 2).unwrap();
    let _second = slots.acquire(a, 2).unwrap();
    assert_eq!(
      slots.acquire(a, 2).err(),
      Some(Refusal::TunnelLimit { limit: 2 })
    );
    let _other = slots.acquire(b, 2).unwrap();
    assert_eq!(slots.active(), 3);
    drop(first);
    assert_eq!(slots.active(), 2);
    let _again = slots.acquire(a, 2).unwrap();
    drop(_other);
    assert!(!slots.held.lock().unwrap().contains_key(&b));
  }

  #[test]
  fn a_metered_socket_counts_bytes_and_activity() {
    crate::io::runtime().block_on(async {
      let (client, mut server) = tokio::io::duplex(64);
      let traffic = Arc::new(Traffic::default());
      let total = Arc::new(Traffic::default());
      let activity = Activity::new();
      let mut metered = Metered::new(
        client,
        Tap {
          activity: activity.clone(),
          traffic: vec![traffic.clone(), total.clone()],
        },
      );
      tokio::time::sleep(Duration::from_millis(20)).await;
      let before = activity.last();
      metered.write_all(b"hello").await.unwrap();
      server.write_all(b"hi!").await.unwrap();
      let mut buf = [0; 3];
      metered.read_exact(&mut buf).await.unwrap();
      assert_eq!(traffic.get(), (5, 3));
      assert_eq!(total.get(), (5, 3));
      assert!(activity.last() > before);
    });
  }

  #[test]
  fn idleness_is_measured_from_the_last_byte() {
    crate::io::runtime().block_on(async {
      let activity = Activity::new();
      let started = Instant::now();
      activity.idle_for(Duration::from_millis(30)).await;
      assert!(started.elapsed() >= Duration::from_millis(30));
      tokio::time::sleep(Duration::from_millis(50)).await;
      activity.touch();
      let touched = Instant::now();
      activity.idle_for(Duration::from_millis(30)).await;
      assert!(touched.elapsed() >= Duration::from_millis(25));
    });
  }
}

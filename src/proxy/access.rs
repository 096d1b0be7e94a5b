//! What each credential may do, as Smokescreen does per role: the proxy's policy narrowed by the
//! credential's own lists, its mode, and its rate limits, with the running counts those limits
//! need (kept by user name, so a reload changes the limits without forgetting the counts).
//!
//! In report mode nothing the credential adds refuses a request: the request is judged by the
//! proxy's own policy alone, and the first refusal the credential's rules would have given is
//! noted for its decision. The built-in rules, the proxy's lists and its own limits are never
//! relaxed by a credential, in either mode.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::refusal::{RateLimit, Refusal};
use crate::policy::{Denial, EgressPolicy};

/// Whether a credential's own rules refuse, or are only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
  Enforce,
  Report,
}

/// One credential's rules, validated.
#[derive(Debug, Clone)]
pub struct Access {
  pub username: String,
  pub mode: Mode,
  /// The proxy's policy narrowed by the credential's `allowedHosts`, `deniedHosts` and
  /// `deniedRanges`.
  pub policy: EgressPolicy,
  pub max_requests_per_minute: Option<u32>,
  pub max_concurrent: Option<u32>,
}

/// The policies one request is judged by, and the refusal its credential's rules would have
/// given in report mode.
pub struct Judge<'a> {
  /// The proxy's own policy.
  pub base: &'a EgressPolicy,
  pub access: &'a Access,
  pub noted: Option<Refusal>,
}

impl<'a> Judge<'a> {
  pub fn new(base: &'a EgressPolicy, access: &'a Access) -> Self {
    Judge {
      base,
      access,
      noted: None,
    }
  }

  /// Applies one check of the policy as the credential's mode says.
  pub fn check<T>(
    &mut self,
    check: impl Fn(&EgressPolicy) -> Result<T, Denial>,
  ) -> Result<T, Refusal> {
    match self.access.mode {
      Mode::Enforce => check(&self.access.policy).map_err(Refusal::Policy),
      Mode::Report => {
        let allowed = check(self.base).map_err(Refusal::Policy)?;
        if let Err(denial) = check(&self.access.policy) {
          self.note(Refusal::Policy(denial));
        }
        Ok(allowed)
      }
    }
  }

  /// Keeps the first refusal that report mode let pass.
  pub fn note(&mut self, refusal: Refusal) {
    self.noted.get_or_insert(refusal);
  }
}

/// The running counts of every credential's rate limits.
#[derive(Default)]
pub struct Usage {
  counts: Mutex<HashMap<String, Arc<Counts>>>,
}

#[derive(Default)]
struct Counts {
  bucket: Mutex<Option<Bucket>>,
  in_flight: AtomicU32,
}

/// A token bucket: `maxRequestsPerMinute` requests at once, refilled at that many a minute.
struct Bucket {
  tokens: f64,
  at: Instant,
}

/// One request under way, counted against its credential's `maxConcurrent` until dropped.
pub struct InFlight(Arc<Counts>);

impl Drop for InFlight {
  fn drop(&mut self) {
    self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
  }
}

impl Usage {
  fn counts(&self, username: &str) -> Arc<Counts> {
    let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(username.to_owned()).or_default().clone()
  }

  /// Admits one request of the credential at `now`: its in-flight token, or the limit it passed.
  /// In report mode the request is always admitted, and a passed limit is noted in `judge`.
  pub fn admit(&self, judge: &mut Judge, now: Instant) -> Result<InFlight, Refusal> {
    let access = judge.access;
    let counts = self.counts(&access.username);
    let refused = |limit| Refusal::RateLimited {
      username: access.username.clone(),
      limit,
    };
    let mut passed = None;
    if let Some(per_minute) = access.max_requests_per_minute {
      if let Err(retry_after) = take_token(&counts, per_minute, now) {
        passed = Some(refused(RateLimit::PerMinute {
          limit: per_minute,
          retry_after,
        }));
      }
    }
    let held = counts.in_flight.fetch_add(1, Ordering::Relaxed);
    let in_flight = InFlight(counts);
    if let Some(max) = access.max_concurrent {
      if held >= max && passed.is_none() {
        passed = Some(refused(RateLimit::Concurrent { limit: max }));
      }
    }
    match (passed, access.mode) {
      (None, _) => Ok(in_flight),
      (Some(refusal), Mode::Report) => {
        judge.note(refusal);
        Ok(in_flight)
      }
      (Some(refusal), Mode::Enforce) => Err(refusal),
    }
  }
}

/// Takes a token from the credential's bucket, or says how long until there is one.
fn take_token(counts: &Counts, per_minute: u32, now: Instant) -> Result<(), Duration> {
  let capacity = f64::from(per_minute);
  let per_second = capacity / 60.0;
  let mut bucket = counts.bucket.lock().unwrap_or_else(|e| e.into_inner());
  let bucket = bucket.get_or_insert(Bucket {
    tokens: capacity,
    at: now,
  });
  let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
  // A reload may lower the limit: the bucket never holds more than the limit in force.
  bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
  bucket.at = now.max(bucket.at);
  if bucket.tokens >= 1.0 {
    bucket.tokens -= 1.0;
    Ok(())
  } else {
    Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn access(mode: Mode, per_minute: Option<u32>, concurrent: Option<u32>) -> Access {
    let base = EgressPolicy::default();
    Access {
      username: "site".into(),
      mode,
      policy: base
        .narrowed(Some(&["api.example.com".into()]), &[], &[])
        .unwrap(),
      max_requests_per_minute: per_minute,
      max_concurrent: concurrent,
    }
  }

  fn rule(result: &Result<impl Sized, Refusal>) -> &'static str {
    match result {
      Ok(_) => "allowed",
      Err(refusal) => refusal.rule(),
    }
  }

  #[test]
  fn enforce_mode_refuses_by_the_credentials_rules() {
    let base = EgressPolicy::default();
    let access = access(Mode::Enforce, None, None);
    let mut judge = Judge::new(&base, &access);
    assert_eq!(
      rule(&judge.check(|p| p.check_url("https://api.example.com/"))),
      "allowed"
    );
    assert_eq!(
      rule(&judge.check(|p| p.check_url("https://other.example/"))),
      "not-allowed-host"
    );
    assert!(judge.noted.is_none());
  }

  #[test]
  fn report_mode_allows_what_only_the_credential_refuses_and_notes_the_first_rule() {
    let base = EgressPolicy::default();
    let access = access(Mode::Report, None, None);
    let mut judge = Judge::new(&base, &access);
    assert_eq!(
      rule(&judge.check(|p| p.check_url("https://other.example/"))),
      "allowed"
    );
    assert_eq!(
      judge.noted.as_ref().map(Refusal::rule),
      Some("not-allowed-host")
    );
    // The built-in rules still refuse.
    assert_eq!(
      rule(&judge.check(|p| p.check_url("http://169.254.169.254/"))),
      "blocked-address"
    );
    assert_eq!(
      rule(&judge.check(|p| p.check_addr("10.0.0.1".parse().unwrap()))),
      "blocked-address"
    );
  }

  #[test]
  fn a_per_minute_limit_is_a_bucket_refilled_over_the_minute() {
    let usage = Usage::default();
    let base = EgressPolicy::default();
    let access = access(Mode::Enforce, Some(2), None);
    let start = Instant::now();
    let admit = |at: Duration| {
      let mut judge = Judge::new(&base, &access);
      usage.admit(&mut judge, start + at).map(drop)
    };
    assert!(admit(Duration::ZERO).is_ok());
    assert!(admit(Duration::ZERO).is_ok());
    match admit(Duration::from_secs(1)) {
      Err(Refusal::RateLimited {
        limit: RateLimit::PerMinute { limit, retry_after },
        ..
      }) => {
        assert_eq!(limit, 2);
        assert_eq!(retry_after.as_secs(), 29);
      }
      other => panic!("{other:?}"),
    }
    assert!(admit(Duration::from_secs(30)).is_ok());
    assert!(admit(Duration::from_secs(31)).is_err());
  }

  #[test]
  fn a_concurrency_limit_counts_requests_under_way() {
    let usage = Usage::default();
    let base = EgressPolicy::default();
    let access = access(Mode::Enforce, None, Some(2));
    let now = Instant::now();
    let mut judge = Judge::new(&base, &access);
    let first = usage.admit(&mut judge, now).unwrap();
    let _second = usage.admit(&mut judge, now).unwrap();
    assert_eq!(
      rule(&usage.admit(&mut judge, now)),
      "rate-limited",
      "a third at once"
    );
    drop(first);
    assert!(usage.admit(&mut judge, now).is_ok());
  }

  #[test]
  fn report_mode_admits_past_the_limits_and_notes_them() {
    let usage = Usage::default();
    let base = EgressPolicy::default();
    let access = access(Mode::Report, Some(1), Some(1));
    let now = Instant::now();
    let mut first = Judge::new(&base, &access);
    let _held = usage.admit(&mut first, now).unwrap();
    assert!(first.noted.is_none());
    let mut second = Judge::new(&base, &access);
    assert!(usage.admit(&mut second, now).is_ok());
    assert_eq!(
      second.noted.as_ref().map(Refusal::rule),
      Some("rate-limited")
    );
  }
}

//! The watchdog: one thread that checks every running execution from outside. QuickJS polls its
//! interrupt handler only every 10,000 ticks, and some builtins do a lot of work per tick, so the
//! handler alone cannot promise a deadline. The watchdog can: when an execution is past its budget
//! by more than the handler's grace, it answers the caller with `ERR_SCRIPT_TIMEOUT`, frees the
//! slot, and leaves the thread to finish on idle CPU (see `Executor::abandon`).

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::executor::{executor, Execution, Stop};
use crate::error::Failure;
use crate::options::Limits;

const TICK: Duration = Duration::from_millis(5);

struct Watchdog {
  watched: Mutex<Vec<Arc<Execution>>>,
  wake: Condvar,
}

static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();

/// Watches `exec` until it finishes.
pub fn watch(exec: Arc<Execution>) {
  let dog = WATCHDOG.get_or_init(|| {
    std::thread::Builder::new()
      .name("backend-script-watchdog".into())
      .spawn(run)
      .expect("cannot start the watchdog thread");
    Watchdog {
      watched: Mutex::new(Vec::new()),
      wake: Condvar::new(),
    }
  });
  let mut watched = dog.watched.lock().unwrap_or_else(|e| e.into_inner());
  watched.push(exec);
  dog.wake.notify_one();
}

fn run() {
  let dog = loop {
    match WATCHDOG.get() {
      Some(d) => break d,
      None => std::thread::sleep(Duration::from_millis(1)),
    }
  };
  let mut watched = dog.watched.lock().unwrap_or_else(|e| e.into_inner());
  loop {
    if watched.is_empty() {
      watched = dog.wake.wait(watched).unwrap_or_else(|e| e.into_inner());
      continue;
    }
    let now = Instant::now();
    let mut overdue = Vec::new();
    // An execution only this list still holds has finished.
    watched.retain(|e| {
      if Arc::strong_count(e) == 1 {
        return false;
      }
      let cpu = e.cpu_used();
      // Past a budget: make the script reach its interrupt handler at its next poll rather
      // than up to 10,000 ticks later.
      if e.caller.gone() {
        e.request_stop(Stop::Cancelled);
      } else if cpu > e.limits.cpu_time {
        e.request_stop(Stop::Cpu);
      } else if now >= e.wall_deadline {
        e.request_stop(Stop::Wall);
      }
      match past_budget(
        &e.limits,
        cpu,
        e.slot_time(),
        now.saturating_duration_since(e.wall_deadline),
      ) {
        Some(f) => {
          overdue.push((e.clone(), f));
          false
        }
        None => true,
      }
    });
    drop(watched);
    for (exec, failure) in overdue {
      executor().abandon(&exec, failure);
    }
    std::thread::sleep(TICK);
    watched = dog.watched.lock().unwrap_or_else(|e| e.into_inner());
  }
}

/// Whether an execution is past its budget by more than the interrupt handler's grace.
///
/// CPU: past the limit by a tenth (at least 20 ms), or — when the machine is so loaded that the
/// thread gets little CPU — holding a slot for 1.4 × the limit + 50 ms of wall time. Either way
/// the caller hears back within 1.5 × `cpuTimeMs` + 100 ms. Wall: past the deadline by 50 ms.
pub fn past_budget(
  limits: &Limits,
  cpu: Duration,
  slot_time: Duration,
  past_deadline: Duration,
) -> Option<Failure> {
  let cpu_limit = limits.cpu_time;
  let grace = (cpu_limit / 10).max(Duration::from_millis(20));
  if cpu > cpu_limit + grace || slot_time > cpu_limit.mul_f64(1.4) + Duration::from_millis(50) {
    return Some(Failure::CpuTimeout {
      limit_ms: cpu_limit.as_millis() as u64,
    });
  }
  if past_deadline > Duration::from_millis(50) {
    return Some(Failure::WallTimeout {
      limit_ms: limits.wall_time.as_millis() as u64,
    });
  }
  None
}

#[cfg(test)]
mod tests {
  use super::*;

  fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
  }

  #[test]
  fn answers_only_past_the_grace_of_each_budget() {
    let limits = Limits {
      cpu_time: ms(1000),
      wall_time: ms(5000),
      ..Limits::default()
    };
    let z = Duration::ZERO;
    let cases = [
      (ms(1000), ms(1000), z, None),
      (ms(1100), ms(1100), z, None),
      (ms(1101), ms(1101), z, Some("ERR_SCRIPT_TIMEOUT")),
      (ms(500), ms(1450), z, None),
      (ms(500), ms(1451), z, Some("ERR_SCRIPT_TIMEOUT")),
      (ms(10), ms(10), ms(50), None),
      (ms(10), ms(10), ms(51), Some("ERR_SCRIPT_TIMEOUT")),
    ];
    for (cpu, slot, past, expected) in cases {
      let got = past_budget(&limits, cpu, slot, past);
      assert_eq!(
        got.as_ref().map(|f| f.code().as_str()),
        expected,
        "cpu {cpu:?} slot {slot:?} past {past:?}"
      );
    }
  }

  #[test]
  fn small_limits_get_at_least_twenty_milliseconds_of_grace() {
    let limits = Limits {
      cpu_time: ms(50),
      ..Limits::default()
    };
    assert!(past_budget(&limits, ms(70), ms(70), Duration::ZERO).is_none());
    assert!(past_budget(&limits, ms(71), ms(71), Duration::ZERO).is_some());
  }
}

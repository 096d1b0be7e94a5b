//! Per-thread CPU clocks and scheduling: how much CPU an execution has used, read by its own
//! thread and by the watchdog from outside, and the priorities executor threads run at.

use std::time::Duration;

/// The CPU clock of the calling thread, readable from any thread while this one lives.
pub fn current_thread_clock() -> libc::clockid_t {
  let mut id: libc::clockid_t = 0;
  // Cannot fail for the calling thread.
  unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
  id
}

/// CPU time a thread has used so far.
pub fn cpu_time(clock: libc::clockid_t) -> Duration {
  let mut ts = libc::timespec {
    tv_sec: 0,
    tv_nsec: 0,
  };
  unsafe { libc::clock_gettime(clock, &mut ts) };
  Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The kernel's id of the calling thread, for changing its scheduling from outside.
pub fn current_tid() -> libc::pid_t {
  unsafe { libc::gettid() }
}

/// How much less CPU an executor thread gets than a default one when both want it: Node's own
/// thread, and the event loop on it, come first.
const EXECUTOR_NICENESS: libc::c_int = 5;

/// Lowers the calling thread's priority to that of an executor thread.
pub fn lower_priority() {
  // Only ever lowers, which needs no privilege; failing leaves the thread as it was.
  unsafe {
    libc::setpriority(
      libc::PRIO_PROCESS,
      current_tid() as libc::id_t,
      EXECUTOR_NICENESS,
    )
  };
}

/// Moves a thread to the idle scheduling class: it then runs only on CPU nobody else wants.
/// Used for a runaway script that was already answered for but has not yet reached a point
/// where it can be stopped.
pub fn demote(tid: libc::pid_t) {
  let param = libc::sched_param { sched_priority: 0 };
  unsafe { libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) };
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_busy_thread_sees_its_cpu_clock_advance() {
    let clock = current_thread_clock();
    let before = cpu_time(clock);
    let mut x = 0u64;
    // However loaded the machine, a thread that spins gets CPU within a few seconds.
    let start = std::time::Instant::now();
    while cpu_time(clock) - before < Duration::from_millis(20) && start.elapsed().as_secs() < 30 {
      x = x.wrapping_mul(31).wrapping_add(7);
    }
    std::hint::black_box(x);
    assert!(cpu_time(clock) - before >= Duration::from_millis(20));
  }
}

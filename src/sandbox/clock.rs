//! Per-thread CPU clocks and scheduling: how much CPU an execution has used, read by its own
//! thread and by the watchdog from outside, and the priorities executor threads run at.
//!
//! Each OS has its own way to do this, in `imp` below: Linux (glibc and musl) per-thread CPU
//! clocks and nice values, macOS Mach thread info and precedence, Windows thread times and
//! priorities. Everything else uses the opaque [`ThreadHandle`] and [`lower_priority`].

use std::time::Duration;

/// One thread as seen from any other: the CPU time it has used and its scheduling. Taken by the
/// thread itself ([`ThreadHandle::current`]); meaningful while that thread lives.
pub struct ThreadHandle(imp::Handle);

impl ThreadHandle {
  /// The calling thread.
  pub fn current() -> ThreadHandle {
    ThreadHandle(imp::Handle::current())
  }

  /// CPU time (user and system) the thread has used so far; zero if the system cannot tell,
  /// e.g. once the thread has exited.
  pub fn cpu_time(&self) -> Duration {
    self.0.cpu_time()
  }

  /// Moves the thread to the lowest priority there is: it then runs only on CPU nobody else
  /// wants. Used for a runaway script that was already answered for but has not yet reached a
  /// point where it can be stopped. Failing leaves the thread as it was.
  pub fn demote(&self) {
    self.0.demote()
  }
}

/// Lowers the calling thread's priority to that of an executor thread, so that Node's own
/// thread, and the event loop on it, come first. Only ever lowers, which needs no privilege;
/// failing leaves the thread as it was.
pub fn lower_priority() {
  imp::lower_priority()
}

#[cfg(target_os = "linux")]
mod imp {
  use std::time::Duration;

  /// The nice value executor threads run at (0 is the default, 19 the lowest).
  const EXECUTOR_NICENESS: libc::c_int = 5;

  pub struct Handle {
    clock: libc::clockid_t,
    /// The kernel's id of the thread: Linux schedules each thread on its own.
    tid: libc::pid_t,
  }

  impl Handle {
    pub fn current() -> Handle {
      let mut clock: libc::clockid_t = 0;
      // Cannot fail for the calling thread.
      unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
      Handle {
        clock,
        tid: unsafe { libc::gettid() },
      }
    }

    pub fn cpu_time(&self) -> Duration {
      let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
      };
      if unsafe { libc::clock_gettime(self.clock, &mut ts) } != 0 {
        return Duration::ZERO;
      }
      Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    pub fn demote(&self) {
      // All zeroes: priority 0, the only one SCHED_IDLE takes. A struct literal would not build on
      // musl, whose sched_param has more fields.
      let param: libc::sched_param = unsafe { std::mem::zeroed() };
      // The system call itself: musl's sched_setscheduler() never calls it and fails with ENOSYS.
      unsafe {
        libc::syscall(
          libc::SYS_sched_setscheduler,
          self.tid,
          libc::SCHED_IDLE,
          &param,
        )
      };
    }
  }

  pub fn lower_priority() {
    // With PRIO_PROCESS and a thread id, Linux changes that one thread's nice value.
    unsafe {
      libc::setpriority(
        libc::PRIO_PROCESS,
        libc::gettid() as libc::id_t,
        EXECUTOR_NICENESS,
      )
    };
  }
}

#[cfg(target_os = "macos")]
mod imp {
  use std::time::Duration;

  /// Mach precedence ("importance") is added to the task's base priority: executor threads run a
  /// few levels below Node's own threads.
  const EXECUTOR_IMPORTANCE: libc::integer_t = -5;
  /// The kernel clamps the sum to its lowest priority (`MINPRI`); this is -`MAXPRI`.
  const IDLE_IMPORTANCE: libc::integer_t = -127;

  pub struct Handle {
    /// The thread's Mach port, which thread_info and thread_policy_set take for any thread of
    /// this task. libpthread owns this right while the thread lives, so it is not released here.
    port: libc::thread_t,
  }

  impl Handle {
    pub fn current() -> Handle {
      Handle {
        port: unsafe { libc::pthread_mach_thread_np(libc::pthread_self()) },
      }
    }

    pub fn cpu_time(&self) -> Duration {
      // Plain integers, for which all zeroes is a valid value.
      let mut info: libc::thread_basic_info = unsafe { std::mem::zeroed() };
      let mut count = libc::THREAD_BASIC_INFO_COUNT;
      let result = unsafe {
        libc::thread_info(
          self.port,
          libc::THREAD_BASIC_INFO as libc::thread_flavor_t,
          &mut info as *mut libc::thread_basic_info as libc::thread_info_t,
          &mut count,
        )
      };
      if result != libc::KERN_SUCCESS {
        return Duration::ZERO;
      }
      let micros = |t: libc::time_value_t| t.seconds as u64 * 1_000_000 + t.microseconds as u64;
      Duration::from_micros(micros(info.user_time) + micros(info.system_time))
    }

    pub fn demote(&self) {
      set_importance(self.port, IDLE_IMPORTANCE);
    }
  }

  pub fn lower_priority() {
    set_importance(Handle::current().port, EXECUTOR_IMPORTANCE);
  }

  fn set_importance(port: libc::thread_t, importance: libc::integer_t) {
    let mut policy = libc::thread_precedence_policy { importance };
    unsafe {
      libc::thread_policy_set(
        port,
        libc::THREAD_PRECEDENCE_POLICY as libc::thread_policy_flavor_t,
        &mut policy as *mut libc::thread_precedence_policy as libc::thread_policy_t,
        libc::THREAD_PRECEDENCE_POLICY_COUNT,
      )
    };
  }
}

#[cfg(windows)]
mod imp {
  use std::time::Duration;

  use windows_sys::Win32::Foundation::{
    CloseHandle, DuplicateHandle, DUPLICATE_SAME_ACCESS, FILETIME, HANDLE,
  };
  use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetCurrentThread, GetThreadTimes, SetThreadPriority,
    THREAD_PRIORITY_BELOW_NORMAL, THREAD_PRIORITY_IDLE,
  };

  /// A real handle on the thread: GetCurrentThread() only gives a pseudo-handle that means
  /// "the caller" wherever it is used, and the watchdog reads the thread from its own.
  pub struct Handle(HANDLE);

  // A thread handle is a kernel object's handle, usable from any thread of the process.
  unsafe impl Send for Handle {}
  unsafe impl Sync for Handle {}

  impl Handle {
    pub fn current() -> Handle {
      let mut handle: HANDLE = std::ptr::null_mut();
      // On failure the handle stays null, and reading the thread's times fails (zero).
      unsafe {
        let process = GetCurrentProcess();
        DuplicateHandle(
          process,
          GetCurrentThread(),
          process,
          &mut handle,
          0,
          0,
          DUPLICATE_SAME_ACCESS,
        )
      };
      Handle(handle)
    }

    /// Windows adds up a thread's times at each clock tick (about 15.6 ms by default), so a
    /// CPU limit is enforced to within one tick.
    pub fn cpu_time(&self) -> Duration {
      let mut creation = FILETIME::default();
      let mut exit = FILETIME::default();
      let mut kernel = FILETIME::default();
      let mut user = FILETIME::default();
      let ok = unsafe { GetThreadTimes(self.0, &mut creation, &mut exit, &mut kernel, &mut user) };
      if ok == 0 {
        return Duration::ZERO;
      }
      // In units of 100 ns.
      let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
      Duration::from_nanos((ticks(kernel) + ticks(user)).saturating_mul(100))
    }

    pub fn demote(&self) {
      unsafe { SetThreadPriority(self.0, THREAD_PRIORITY_IDLE) };
    }
  }

  impl Drop for Handle {
    fn drop(&mut self) {
      if !self.0.is_null() {
        unsafe { CloseHandle(self.0) };
      }
    }
  }

  pub fn lower_priority() {
    unsafe { SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_BELOW_NORMAL) };
  }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
compile_error!("backend-scripts measures per-thread CPU time on Linux, macOS and Windows only");

#[cfg(test)]
mod tests {
  use super::*;

  fn spin(for_how_long: Duration) {
    let mut x = 0u64;
    let start = std::time::Instant::now();
    while start.elapsed() < for_how_long {
      x = x.wrapping_mul(31).wrapping_add(7);
    }
    std::hint::black_box(x);
  }

  #[test]
  fn a_busy_thread_sees_its_cpu_clock_advance() {
    let thread = ThreadHandle::current();
    let before = thread.cpu_time();
    // However loaded the machine, a thread that spins gets CPU within a few seconds.
    let start = std::time::Instant::now();
    while thread.cpu_time() - before < Duration::from_millis(20) && start.elapsed().as_secs() < 30 {
      spin(Duration::from_millis(1));
    }
    assert!(thread.cpu_time() - before >= Duration::from_millis(20));
  }

  #[test]
  fn another_thread_reads_a_busy_threads_cpu_time_and_demotes_it() {
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
      lower_priority();
      let me = ThreadHandle::current();
      // Busy until its own clock shows 30 ms, however loaded the machine is.
      while me.cpu_time() < Duration::from_millis(30) {
        spin(Duration::from_millis(1));
      }
      handle_tx.send(me).unwrap();
      // Stays alive until the reader is done with the handle.
      done_rx.recv().unwrap();
    });
    let thread = handle_rx.recv().unwrap();
    thread.demote();
    assert!(thread.cpu_time() >= Duration::from_millis(30));
    done_tx.send(()).unwrap();
    worker.join().unwrap();
  }

  #[test]
  fn an_idle_thread_uses_next_to_no_cpu() {
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
      handle_tx.send(ThreadHandle::current()).unwrap();
      done_rx.recv().unwrap();
    });
    let thread = handle_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(thread.cpu_time() < Duration::from_millis(20));
    done_tx.send(()).unwrap();
    worker.join().unwrap();
  }
}

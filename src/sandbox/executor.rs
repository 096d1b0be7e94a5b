//! The executor: threads the addon owns (never Node's main thread, never libuv's pool), a queue,
//! and slots. A slot is the right to run JavaScript; `maxConcurrency` of them exist. An execution
//! that waits on HTTP gives its slot back and takes one again before it continues, so waiting
//! executions hold a thread but no CPU, and do not wait on each other.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::runtime::Sandbox;
use super::{clock, watchdog, Caller, Job, Outcome, Settle, Source};
use crate::api::{Wait, Waiting};
use crate::error::{Failure, ScriptError};
use crate::options::{Limits, PoolConfig, MAX_STACK_BYTES};
use crate::outcome::{HostCallRecord, HttpRecord, LogEntry, SharedLogs, Stats};

/// How long a thread beyond `maxConcurrency` stays idle before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(10);
/// Native stack of an executor thread: the deepest script stack allowed, plus room for the host.
pub const THREAD_STACK: usize = MAX_STACK_BYTES + (1 << 20);

pub struct Executor {
  pool: Mutex<Pool>,
  /// Idle workers wait here for a job they may start.
  work: Condvar,
  /// Executions back from an HTTP wait wait here for a slot.
  slots: Condvar,
}

#[derive(Default)]
struct Pool {
  config: PoolConfig,
  /// Jobs waiting to start, with when each was submitted.
  queue: VecDeque<(Job, Instant)>,
  /// Executions holding a slot.
  running: usize,
  /// Executions back from HTTP, waiting for a slot; they go before queued jobs.
  resuming: usize,
  /// Executions started and not finished.
  in_flight: usize,
  /// Threads waiting for a job.
  idle: usize,
  /// Idle threads told to look for a job that have not woken yet.
  woken: usize,
  threads: usize,
  /// Threads still running a script that was already answered for (see `watchdog`).
  abandoned: usize,
}

impl Pool {
  fn can_start(&self) -> bool {
    !self.queue.is_empty()
      && self.running + self.resuming < self.config.max_concurrency
      && self.in_flight < self.config.max_in_flight
  }

  /// At `maxAbandoned` threads still finishing overrun scripts (any one, when it is 0).
  fn refusing_for_abandoned(&self) -> bool {
    self.abandoned > 0 && self.abandoned >= self.config.max_abandoned
  }

  /// Why a new execution would be refused now, if it would.
  fn refusal(&self) -> Option<Failure> {
    if self.refusing_for_abandoned() {
      return Some(Failure::Abandoned {
        max_abandoned: self.config.max_abandoned as u32,
      });
    }
    if self.queue.len() >= self.config.max_queue + self.free_slots() {
      return Some(Failure::Busy {
        max_queue: self.config.max_queue as u32,
      });
    }
    None
  }
}

/// What the executor is doing right now, for monitoring.
#[napi_derive::napi(object, object_from_js = false)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorStats {
  /// Executions running JavaScript (holding a slot).
  pub running: u32,
  /// Executions waiting for a slot to start.
  pub queued: u32,
  /// Executions started and not finished, waiting on HTTP included.
  pub in_flight: u32,
  /// Executor threads, idle ones included.
  pub threads: u32,
  /// Threads still finishing a script that was already answered with `ERR_SCRIPT_TIMEOUT`
  /// because it was stuck inside a builtin; they run only on otherwise idle CPU.
  pub abandoned: u32,
  /// Why new executions are refused with `ERR_SCRIPT_BUSY` right now: `'abandoned'` while
  /// `maxAbandoned` threads are still finishing; absent when they are accepted.
  pub refusing: Option<String>,
}

/// Why the host wants a script to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
  None,
  Cpu,
  Wall,
  /// The caller's environment is gone (see [`Caller`]).
  Cancelled,
}

/// One execution in progress, shared by its thread, the watchdog and the host functions.
pub struct Execution {
  pub limits: Limits,
  pub started: Instant,
  pub wall_deadline: Instant,
  thread: clock::ThreadHandle,
  cpu_start: Duration,
  /// CPU time the thread spent while waiting outside its slot (TLS, decoding a response, a host
  /// function's answer): not the script's, so not counted against `cpuTimeMs`.
  cpu_waits: Mutex<CpuWaits>,
  /// Who asked; the watchdog stops the execution when it is gone.
  pub caller: Caller,
  stop: AtomicU8,
  /// Read by QuickJS at every interrupt poll (see vendor/rquickjs-sys/PATCHES.md): set, it makes
  /// the script reach its interrupt handler at once instead of up to 10,000 ticks later.
  interrupt: AtomicI32,
  settle: Mutex<Option<Settle>>,
  logs: Mutex<Option<SharedLogs>>,
  /// Guarded by the pool lock's discipline: only changed while the pool is locked.
  slot: Mutex<SlotState>,
  /// What goes into the execution's record besides its clocks; kept here rather than in the
  /// sandbox so that the watchdog can report it for an execution it answers for.
  record: Mutex<Record>,
  /// The sandbox's memory high-water mark as last seen by its thread.
  peak_memory: AtomicU64,
}

/// The thread's CPU time spent waiting outside the slot: in the waits that ended, and since the
/// one under way began (its CPU time then).
#[derive(Debug, Default)]
struct CpuWaits {
  done: Duration,
  since: Option<Duration>,
}

#[derive(Debug, Default)]
struct Record {
  /// Waiting for a slot: before the start, then after each wait outside it.
  queued: Duration,
  http_wait: Duration,
  host_wait: Duration,
  requests: Vec<HttpRecord>,
  host_calls: Vec<HostCallRecord>,
}

#[derive(Debug)]
struct SlotState {
  held: bool,
  since: Instant,
  /// Wall time spent holding a slot before `since`.
  used: Duration,
  /// The watchdog answered for this execution; its thread no longer counts.
  abandoned: bool,
  finished: bool,
}

impl Execution {
  fn start(limits: Limits, settle: Settle, caller: Caller, queued: Duration) -> Execution {
    let thread = clock::ThreadHandle::current();
    let now = Instant::now();
    Execution {
      wall_deadline: now + limits.wall_time,
      limits,
      started: now,
      cpu_start: thread.cpu_time(),
      cpu_waits: Mutex::default(),
      thread,
      caller,
      stop: AtomicU8::new(0),
      interrupt: AtomicI32::new(0),
      settle: Mutex::new(Some(settle)),
      logs: Mutex::new(None),
      slot: Mutex::new(SlotState {
        held: true,
        since: now,
        used: Duration::ZERO,
        abandoned: false,
        finished: false,
      }),
      record: Mutex::new(Record {
        queued,
        ..Record::default()
      }),
      peak_memory: AtomicU64::new(0),
    }
  }

  /// Called from the sandbox's thread with its memory high-water mark.
  pub fn note_peak_memory(&self, bytes: usize) {
    self.peak_memory.fetch_max(bytes as u64, Ordering::Relaxed);
  }

  /// The execution's record as of now; `outcome` is filled in by whoever settles.
  pub fn stats(&self) -> Stats {
    let record = lock(&self.record);
    Stats {
      outcome: "ok".into(),
      duration_ms: millis(self.started.elapsed()),
      cpu_ms: millis(self.cpu_used()),
      peak_memory_bytes: self.peak_memory.load(Ordering::Relaxed) as f64,
      queue_ms: millis(record.queued),
      http_wait_ms: millis(record.http_wait),
      http_requests: record.requests.len() as u32,
      requests: record.requests.clone(),
      host_wait_ms: millis(record.host_wait),
      host_calls: record.host_calls.clone(),
    }
  }

  /// CPU time the script has used, readable from any thread: its thread's, but for what the
  /// thread spent waiting outside its slot.
  pub fn cpu_used(&self) -> Duration {
    let waits = lock(&self.cpu_waits);
    let now = self.thread.cpu_time();
    let waiting_now = waits
      .since
      .map_or(Duration::ZERO, |since| now.saturating_sub(since));
    now
      .saturating_sub(self.cpu_start)
      .saturating_sub(waits.done + waiting_now)
  }

  /// Wall time spent holding a slot, i.e. running JavaScript rather than waiting.
  pub fn slot_time(&self) -> Duration {
    let s = lock(&self.slot);
    s.used
      + if s.held {
        s.since.elapsed()
      } else {
        Duration::ZERO
      }
  }

  pub fn stop_reason(&self) -> Stop {
    match self.stop.load(Ordering::Acquire) {
      1 => Stop::Cpu,
      2 => Stop::Wall,
      3 => Stop::Cancelled,
      _ => Stop::None,
    }
  }

  /// Asks the script to stop at its next interrupt poll, for `stop`'s reason (the first reason
  /// given wins).
  pub fn request_stop(&self, stop: Stop) {
    let v = match stop {
      Stop::None => return,
      Stop::Cpu => 1,
      Stop::Wall => 2,
      Stop::Cancelled => 3,
    };
    let _ = self
      .stop
      .compare_exchange(0, v, Ordering::AcqRel, Ordering::Acquire);
    self.interrupt.store(1, Ordering::Release);
  }

  /// The flag QuickJS polls; valid as long as this execution lives.
  pub fn interrupt_flag(&self) -> *const i32 {
    self.interrupt.as_ptr()
  }

  /// Called by the interrupt handler: has a budget run out?
  pub fn should_stop(&self) -> bool {
    if self.stop_reason() != Stop::None {
      return true;
    }
    if self.cpu_used() > self.limits.cpu_time {
      self.request_stop(Stop::Cpu);
    } else if Instant::now() >= self.wall_deadline {
      self.request_stop(Stop::Wall);
    }
    self.stop_reason() != Stop::None
  }

  /// Lets the watchdog report what the script printed if it has to answer for it.
  pub fn share_logs(&self, logs: SharedLogs) {
    *lock(&self.logs) = Some(logs);
  }

  fn logs_so_far(&self) -> Vec<LogEntry> {
    lock(&self.logs)
      .as_ref()
      .map(|l| lock(l).clone())
      .unwrap_or_default()
  }

  /// Settles the caller's promise; only the first call has an effect.
  fn settle(&self, outcome: Outcome) {
    let settle = lock(&self.settle).take();
    if let Some(settle) = settle {
      settle(outcome);
    }
  }
}

impl Waiting for Execution {
  fn wall_deadline(&self) -> Instant {
    self.wall_deadline
  }

  fn wall_limit(&self) -> Duration {
    self.limits.wall_time
  }

  fn outside_slot(&self, what: Wait, wait: &mut dyn FnMut()) -> bool {
    let ex = executor();
    ex.release_slot(self);
    let (waited, cpu) = (Instant::now(), self.thread.cpu_time());
    lock(&self.cpu_waits).since = Some(cpu);
    wait();
    {
      let mut waits = lock(&self.cpu_waits);
      waits.done += self.thread.cpu_time().saturating_sub(cpu);
      waits.since = None;
    }
    let mut record = lock(&self.record);
    match what {
      Wait::Http => record.http_wait += waited.elapsed(),
      Wait::Host => record.host_wait += waited.elapsed(),
    }
    drop(record);
    let resumed = Instant::now();
    let ours = ex.acquire_slot(self);
    lock(&self.record).queued += resumed.elapsed();
    ours
  }

  fn stopped(&self) -> bool {
    self.stop_reason() != Stop::None
  }

  fn record_request(&self, request: HttpRecord) {
    lock(&self.record).requests.push(request);
  }

  fn record_host_call(&self, call: HostCallRecord) {
    lock(&self.record).host_calls.push(call);
  }
}

fn millis(d: Duration) -> f64 {
  d.as_secs_f64() * 1000.0
}

static EXECUTOR: OnceLock<Executor> = OnceLock::new();

pub fn executor() -> &'static Executor {
  EXECUTOR.get_or_init(|| Executor {
    pool: Mutex::new(Pool::default()),
    work: Condvar::new(),
    slots: Condvar::new(),
  })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
  m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Executor {
  pub fn config(&self) -> PoolConfig {
    lock(&self.pool).config
  }

  pub fn set_config(&'static self, config: PoolConfig) {
    let mut pool = lock(&self.pool);
    pool.config = config;
    self.wake(&mut pool);
  }

  /// Queues a job, or refuses it at once with `ERR_SCRIPT_BUSY` when the queue is full.
  pub fn submit(&'static self, job: Job) {
    let mut pool = lock(&self.pool);
    if let Some(failure) = pool.refusal() {
      drop(pool);
      (job.settle)(Err(ScriptError::new(failure, Vec::new())));
      return;
    }
    pool.queue.push_back((job, Instant::now()));
    self.wake(&mut pool);
  }

  /// After any change: hand a free slot to a resuming execution first, then to a queued job,
  /// starting a thread when no idle one can take it.
  fn wake(&'static self, pool: &mut Pool) {
    if pool.resuming > 0 && pool.running < pool.config.max_concurrency {
      self.slots.notify_all();
      return;
    }
    let startable = pool.queue.len().min(pool.free_slots());
    if startable <= pool.woken {
      return;
    }
    // An idle thread has its sandbox ready: it starts the job at once.
    if pool.idle > pool.woken {
      pool.woken += 1;
      self.work.notify_one();
      return;
    }
    // Otherwise start one more thread, so that while some threads prepare their next sandbox
    // another is ready: up to twice `maxConcurrency` threads besides those waiting on HTTP.
    let waiting_on_http = pool.in_flight - pool.running;
    if pool.threads.saturating_sub(waiting_on_http) < 2 * pool.config.max_concurrency {
      self.spawn(pool);
    }
  }

  fn spawn(&'static self, pool: &mut Pool) {
    let spawned = std::thread::Builder::new()
      .name("backend-script".into())
      .stack_size(THREAD_STACK)
      .spawn(move || self.worker());
    if spawned.is_ok() {
      pool.threads += 1;
    }
  }

  fn worker(&'static self) {
    clock::lower_priority();
    loop {
      let prepared = Sandbox::new().ok();
      let Some((job, submitted)) = self.next_job() else {
        return;
      };
      let exec = Arc::new(Execution::start(
        job.limits,
        job.settle,
        job.input.caller.clone(),
        submitted.elapsed(),
      ));
      watchdog::watch(exec.clone());
      let mut used = None;
      let outcome = catch_unwind(AssertUnwindSafe(|| {
        let sandbox = used.insert(match prepared {
          Some(s) => s,
          None => Sandbox::new()?,
        });
        let source: Arc<str> = match job.source {
          Source::Script(source) => source.into(),
          Source::Prepare(prepare) => prepare()?,
        };
        sandbox.run(&source, job.input, &exec)
      }))
      .unwrap_or_else(|panic| {
        let what = panic
          .downcast_ref::<&str>()
          .map(|s| s.to_string())
          .or_else(|| panic.downcast_ref::<String>().cloned())
          .unwrap_or_else(|| "a panic".into());
        Err(Failure::Internal(format!("the executor panicked: {what}")))
      });
      if let Some(sandbox) = &used {
        exec.note_peak_memory(sandbox.memory_peak());
      }
      let stats = exec.stats();
      let ours = self.finish(&exec);
      exec.settle(match outcome {
        Ok(mut out) => {
          out.stats = stats;
          Ok(out)
        }
        Err(f) => Err(ScriptError::with_stats(f, exec.logs_so_far(), stats)),
      });
      // Freeing the runtime takes a while: only once the caller has its answer.
      drop(used);
      if !ours {
        // The watchdog answered for this execution and already replaced this thread. Its heap
        // went back to the allocator above; give the allocator's free pages back to the system.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free memory of glibc's arenas to the system.
        unsafe {
          libc::malloc_trim(0);
        }
        return;
      }
    }
  }

  /// Waits for a job this thread may start; `None` when the thread should exit.
  fn next_job(&'static self) -> Option<(Job, Instant)> {
    let mut pool = lock(&self.pool);
    loop {
      // Jobs whose caller is gone are dropped unanswered: there is nobody to answer.
      pool.queue.retain(|(job, _)| !job.input.caller.gone());
      if pool.can_start() {
        let job = pool.queue.pop_front().expect("can_start checks the queue");
        pool.running += 1;
        pool.in_flight += 1;
        return Some(job);
      }
      pool.idle += 1;
      let (p, timeout) = self
        .work
        .wait_timeout(pool, IDLE_EXIT)
        .unwrap_or_else(|e| e.into_inner());
      pool = p;
      pool.idle -= 1;
      if !timeout.timed_out() {
        pool.woken = pool.woken.saturating_sub(1);
      }
      if timeout.timed_out() && pool.threads > pool.config.max_concurrency && !pool.can_start() {
        pool.threads -= 1;
        return None;
      }
    }
  }

  /// The execution ended on its thread. Returns false when the watchdog had already taken it over.
  fn finish(&'static self, exec: &Execution) -> bool {
    let mut pool = lock(&self.pool);
    let mut slot = lock(&exec.slot);
    if slot.abandoned {
      pool.abandoned -= 1;
      return false;
    }
    slot.finished = true;
    if slot.held {
      slot.held = false;
      pool.running -= 1;
    }
    pool.in_flight -= 1;
    drop(slot);
    self.wake(&mut pool);
    true
  }

  fn release_slot(&'static self, exec: &Execution) {
    let mut pool = lock(&self.pool);
    let mut slot = lock(&exec.slot);
    if slot.abandoned || !slot.held {
      return;
    }
    slot.held = false;
    let since = slot.since;
    slot.used += since.elapsed();
    pool.running -= 1;
    drop(slot);
    self.wake(&mut pool);
  }

  /// Takes a slot again after a wait; false when the execution was abandoned meanwhile.
  fn acquire_slot(&'static self, exec: &Execution) -> bool {
    let mut pool = lock(&self.pool);
    pool.resuming += 1;
    loop {
      if lock(&exec.slot).abandoned {
        pool.resuming -= 1;
        return false;
      }
      if pool.running < pool.config.max_concurrency {
        break;
      }
      pool = self.slots.wait(pool).unwrap_or_else(|e| e.into_inner());
    }
    pool.resuming -= 1;
    pool.running += 1;
    let mut slot = lock(&exec.slot);
    slot.held = true;
    slot.since = Instant::now();
    true
  }

  /// The watchdog's move when a script cannot be stopped in time: answer the caller now, free the
  /// slot and the thread's place for the next execution, and let the thread finish on idle CPU.
  pub fn abandon(&'static self, exec: &Execution, failure: Failure) {
    {
      let mut pool = lock(&self.pool);
      let mut slot = lock(&exec.slot);
      if slot.abandoned || slot.finished {
        return;
      }
      slot.abandoned = true;
      if slot.held {
        slot.held = false;
        pool.running -= 1;
      }
      pool.in_flight -= 1;
      pool.threads -= 1;
      pool.abandoned += 1;
      drop(slot);
      self.wake(&mut pool);
      self.slots.notify_all();
    }
    exec.request_stop(match failure {
      Failure::WallTimeout { .. } => Stop::Wall,
      _ => Stop::Cpu,
    });
    exec.thread.demote();
    let stats = exec.stats();
    exec.settle(Err(ScriptError::with_stats(
      failure,
      exec.logs_so_far(),
      stats,
    )));
  }

  /// A snapshot of the executor's counters.
  pub fn stats(&self) -> ExecutorStats {
    let pool = lock(&self.pool);
    ExecutorStats {
      running: pool.running as u32,
      queued: pool.queue.len() as u32,
      in_flight: pool.in_flight as u32,
      threads: pool.threads as u32,
      abandoned: pool.abandoned as u32,
      refusing: pool
        .refusing_for_abandoned()
        .then(|| "abandoned".to_string()),
    }
  }
}

impl Pool {
  /// How many more executions could start at once; jobs up to that many do not count as waiting.
  fn free_slots(&self) -> usize {
    let by_slots = self
      .config
      .max_concurrency
      .saturating_sub(self.running + self.resuming);
    let by_flight = self.config.max_in_flight.saturating_sub(self.in_flight);
    by_slots.min(by_flight)
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::sandbox::ScriptInput;

  fn pool(abandoned: usize, queued: usize) -> Pool {
    let mut pool = Pool {
      config: PoolConfig {
        max_concurrency: 1,
        max_queue: 2,
        max_in_flight: 4,
        max_abandoned: 2,
      },
      running: 1,
      in_flight: 1,
      abandoned,
      ..Pool::default()
    };
    for _ in 0..queued {
      pool.queue.push_back((
        Job {
          source: Source::Script(String::new()),
          input: ScriptInput {
            caller: Caller::default(),
            request_json: String::new(),
            session: Default::default(),
            variables: Default::default(),
            egress: None,
            compile_only: false,
            modules: None,
            host: None,
          },
          limits: Limits::default(),
          settle: Box::new(|_| {}),
        },
        Instant::now(),
      ));
    }
    pool
  }

  #[test]
  fn refuses_new_executions_at_the_cap_of_abandoned_threads_and_when_the_queue_is_full() {
    assert!(pool(0, 0).refusal().is_none());
    let mut none_allowed = pool(0, 0);
    none_allowed.config.max_abandoned = 0;
    assert!(none_allowed.refusal().is_none());
    none_allowed.abandoned = 1;
    assert!(none_allowed.refusal().is_some());
    assert!(pool(1, 1).refusal().is_none());
    assert!(matches!(
      pool(2, 0).refusal(),
      Some(Failure::Abandoned { max_abandoned: 2 })
    ));
    assert!(matches!(
      pool(0, 2).refusal(),
      Some(Failure::Busy { max_queue: 2 })
    ));
  }

  /// A host function whose answer costs CPU on the script's thread, while it waits outside its
  /// slot (as TLS or decoding a response do for HTTP).
  struct Burn(Duration);

  impl crate::api::host::Dispatch for Burn {
    fn call(
      &self,
      _name: String,
      _args: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, ()>>>> {
      let burn = self.0;
      Box::pin(async move {
        let thread = clock::ThreadHandle::current();
        let start = thread.cpu_time();
        while thread.cpu_time().saturating_sub(start) < burn {
          std::hint::black_box(0u64);
        }
        Ok("v1".to_string())
      })
    }
  }

  #[test]
  fn cpu_the_thread_spends_outside_its_slot_is_not_the_scripts() {
    let (tx, rx) = std::sync::mpsc::channel();
    let host = crate::api::host::HostFunctions {
      names: vec!["burn".into()],
      dispatch: Box::new(Burn(Duration::from_millis(150))),
    };
    executor().submit(Job {
      source: Source::Script("setVariable('v', burn() + burn())".into()),
      input: ScriptInput {
        caller: Caller::default(),
        request_json: crate::api::normalize_request(None).unwrap(),
        session: Default::default(),
        variables: Default::default(),
        egress: None,
        compile_only: false,
        modules: None,
        host: Some(Arc::new(host)),
      },
      limits: Limits {
        cpu_time: Duration::from_millis(100),
        ..Limits::default()
      },
      settle: Box::new(move |outcome| {
        let _ = tx.send(outcome.map(|out| (out.variables_json, out.stats.cpu_ms)));
      }),
    });
    let (variables, cpu_ms) = rx
      .recv_timeout(Duration::from_secs(20))
      .expect("settled")
      .unwrap_or_else(|e| panic!("{}", e.failure));
    assert_eq!(variables, r#"{"v":2}"#);
    assert!(cpu_ms < 100.0, "{cpu_ms} ms counted");
  }
}

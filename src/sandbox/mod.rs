//! Running scripts: one fresh QuickJS sandbox per execution (`runtime`), on threads the addon owns
//! (`executor`), with budgets enforced from inside (the interrupt handler) and from outside
//! (`watchdog`).

mod bytecode;
mod clock;
pub mod executor;
pub mod modules;
mod runtime;
mod watchdog;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Failure, ScriptError};
use crate::options::Limits;
use crate::outcome::ScriptOutput;

pub use executor::executor;

/// CPU time the calling thread has used, for work done on an executor thread after the script
/// (rendering a page) that its record counts.
pub fn thread_cpu_time() -> std::time::Duration {
  clock::ThreadHandle::current().cpu_time()
}
#[cfg(test)]
pub use executor::THREAD_STACK;

/// The JavaScript environment (main thread or worker) that asked for an execution. When it is
/// torn down — a worker terminated — nobody is left to answer: its queued executions are dropped
/// and its running ones stopped.
#[derive(Clone, Default)]
pub struct Caller(Arc<AtomicBool>);

impl Caller {
  pub fn gone(&self) -> bool {
    self.0.load(Ordering::Acquire)
  }

  pub fn mark_gone(&self) {
    self.0.store(true, Ordering::Release);
  }
}

/// What the host gives one execution, validated.
pub struct ScriptInput {
  pub caller: Caller,
  pub request_json: String,
  pub session: Map<String, Value>,
  pub variables: Map<String, Value>,
  /// How the script reaches the network; `None` leaves `http` undefined.
  pub egress: Option<std::sync::Arc<crate::egress::Egress>>,
  /// Parse the script and stop there, without running it (`checkPage`).
  pub compile_only: bool,
  /// The shared modules the script may import (`options.modules`).
  pub modules: Option<Arc<modules::ModuleSet>>,
  /// The site's own functions the script may call (`options.functions`).
  pub host: Option<Arc<crate::api::host::HostFunctions>>,
}

pub type Outcome = Result<ScriptOutput, ScriptError>;

/// Delivers the outcome to the caller; called exactly once, from whichever thread decides it.
pub type Settle = Box<dyn FnOnce(Outcome) + Send>;

/// The script of a job.
pub enum Source {
  Script(String),
  /// Made on the executor thread as the execution starts, within its budgets: how a page is
  /// prepared (its blocks found and its template compiled) off Node's thread.
  Prepare(Box<dyn FnOnce() -> Result<Arc<str>, Failure> + Send>),
}

pub struct Job {
  pub source: Source,
  pub input: ScriptInput,
  pub limits: Limits,
  pub settle: Settle,
}

//! One sandbox: a fresh QuickJS runtime and context with the host globals installed, prepared on
//! an executor thread before it is needed and used for exactly one execution.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use rquickjs::context::intrinsic::{
  Date, Eval, Json, MapSet, Promise, Proxy, RegExp, RegExpCompiler, TypedArrays, WeakRef,
};
use rquickjs::{qjs, Context, Ctx, Function, Object, Persistent, Runtime, Value};

use super::bytecode;
use super::executor::{Execution, Stop};
use super::modules::{self, Loader};
use super::ScriptInput;
use crate::api::{self, ExecState, OutputBudget, Shared, Store};
use crate::error::{Failure, JsError};
use crate::outcome::{ScriptOutput, Stats};

/// The name scripts have in stack traces; positions are read back from it.
pub const SCRIPT_NAME: &str = "backend-script";
/// The name of the addon's own prelude in stack traces.
pub const PRELUDE_NAME: &str = "prelude";

const PRELUDE: &str = include_str!("../api/prelude.js");

/// The standard built-ins a script gets. Not here: anything with a clock finer than `Date` or any
/// way to reach the host (`performance`, timers, modules, `std`/`os`).
type Intrinsics = (
  Date,
  Eval,
  RegExpCompiler,
  RegExp,
  Json,
  Proxy,
  MapSet,
  TypedArrays,
  Promise,
  WeakRef,
);

extern "C" {
  // Added by vendor/rquickjs-sys/patches/backend-scripts.patch.
  fn JS_SetInterruptFlag(rt: *mut qjs::JSRuntime, flag: *const i32);
  fn JS_GetOutOfMemoryCount(rt: *mut qjs::JSRuntime) -> u64;
  fn JS_GetMemoryPeak(rt: *mut qjs::JSRuntime) -> usize;
}

/// The first promise rejection nobody handled: its reason, read only once the script is over,
/// since reading it can run the script's own getters.
type Unhandled = Rc<RefCell<Option<Persistent<Value<'static>>>>>;

pub struct Sandbox {
  // Field order is drop order: values held across calls go before the context and runtime.
  setup: Persistent<Function<'static>>,
  unhandled: Unhandled,
  context: Context,
  runtime: Runtime,
  state: Shared,
  current: Rc<RefCell<Option<Arc<Execution>>>>,
  raw_runtime: *mut qjs::JSRuntime,
  /// The runtime's module hooks read it: dropped after the runtime.
  loader: Box<Loader>,
}

impl Sandbox {
  pub fn new() -> Result<Sandbox, Failure> {
    let internal =
      |e: rquickjs::Error| Failure::Internal(format!("cannot create a QuickJS runtime: {e}"));
    let runtime = Runtime::new().map_err(internal)?;
    let context = Context::custom::<Intrinsics>(&runtime).map_err(internal)?;
    let state: Shared = Rc::new(RefCell::new(ExecState::default()));
    let current: Rc<RefCell<Option<Arc<Execution>>>> = Rc::default();
    let unhandled: Unhandled = Rc::default();

    let raw_runtime = modules::raw_runtime(&context);
    let loader = Box::<Loader>::default();
    modules::install(raw_runtime, &loader);
    let (cur, st) = (current.clone(), state.clone());
    runtime.set_interrupt_handler(Some(Box::new(move || {
      let Some(exec) = cur.borrow().clone() else {
        return false;
      };
      // Kept up to date here too, so that an execution the watchdog answers for still reports it.
      exec.note_peak_memory(unsafe { JS_GetMemoryPeak(raw_runtime) });
      st.try_borrow().is_ok_and(|s| s.ended) || exec.should_stop()
    })));
    let un = unhandled.clone();
    runtime.set_host_promise_rejection_tracker(Some(Box::new(
      move |ctx, _promise, reason, handled| {
        // The first rejection nobody handles is the script's failure; handling it later clears
        // it. The reason is kept, not read: reading it could run script code, which could reject
        // another promise and come back here.
        let Ok(mut slot) = un.try_borrow_mut() else {
          return;
        };
        if handled {
          *slot = None;
        } else if slot.is_none() {
          *slot = Some(Persistent::save(&ctx, reason));
        }
      },
    )));

    let setup = context
      .with(|ctx| -> rquickjs::Result<_> {
        let host = Object::new(ctx.clone())?;
        api::install(&ctx, &state, &host)?;
        let prelude = bytecode::prelude(&ctx, PRELUDE)?;
        let prelude: Function = bytecode::evaluate(&ctx, prelude)?.get()?;
        let setup: Function = prelude.call((host,))?;
        Ok(Persistent::save(&ctx, setup))
      })
      .map_err(|e| Failure::Internal(format!("cannot prepare the sandbox: {e}")))?;
    Ok(Sandbox {
      setup,
      unhandled,
      context,
      runtime,
      state,
      current,
      raw_runtime,
      loader,
    })
  }

  /// Runs one script to its end. The sandbox is used for this one execution only; the caller
  /// drops it afterwards (after answering, since freeing a runtime takes a while).
  pub fn run(
    &self,
    source: &str,
    input: ScriptInput,
    exec: &Arc<Execution>,
  ) -> Result<ScriptOutput, Failure> {
    let limits = &exec.limits;
    let compile_only = input.compile_only;
    self.runtime.set_memory_limit(limits.memory_bytes);
    self.runtime.set_max_stack_size(limits.stack_bytes);
    // The runtime is freed at the end of this call, while `exec` (and its flag) lives on.
    unsafe { JS_SetInterruptFlag(self.raw_runtime, exec.interrupt_flag()) };
    *self.current.borrow_mut() = Some(exec.clone());
    self.loader.set_modules(input.modules.clone());
    {
      let mut st = self.state.borrow_mut();
      st.budget = OutputBudget::new(limits.output_bytes);
      st.session = Store::from_map(input.session);
      st.variables = Store::from_map(input.variables);
      st.execution = Some(exec.clone() as Arc<dyn api::Waiting>);
      let initial = st.session.size() + st.variables.size();
      st.budget.replace(0, initial)?;
      exec.share_logs(st.logs.shared());
    }
    let outcome = self.context.with(|ctx| -> Result<(), Failure> {
      let setup = self
        .setup
        .clone()
        .restore(&ctx)
        .map_err(|e| Failure::Internal(e.to_string()))?;
      let ran = setup
        .call::<_, ()>((input.request_json,))
        .and_then(|_| match input.egress {
          Some(egress) => api::http::install(&ctx, &self.state, egress),
          None => Ok(()),
        })
        .and_then(|_| match input.host {
          Some(host) => api::host::install(&ctx, &self.state, host, limits.host),
          None => Ok(()),
        })
        .map_err(|e| self.failure(&ctx, e))
        .and_then(|_| {
          let ooms = unsafe { JS_GetOutOfMemoryCount(self.raw_runtime) };
          let compiled = bytecode::compile(&ctx, source, SCRIPT_NAME).map_err(|()| {
            let ran_out = unsafe { JS_GetOutOfMemoryCount(self.raw_runtime) } > ooms;
            if self.loader.has_missing() && !ran_out {
              // An import that names no module of the set.
              return Some(self.loader.failure(&ctx, source, None));
            }
            // Parsing can also run out of memory or stack; only a SyntaxError is the script's,
            // and not one the parser raised because it had just run out of memory.
            let thrown = ctx.catch();
            if ran_out || !thrown.is_object() {
              return Some(self.memory_failure());
            }
            let err = self.read_error(&thrown);
            Some(match err.name.as_str() {
              "SyntaxError" => Failure::Syntax(err),
              _ => self.exception_failure(err),
            })
          })?;
          if compile_only {
            return Ok(());
          }
          let module = modules::is_module(&compiled);
          bytecode::evaluate(&ctx, compiled)
            .map(drop)
            .map_err(|e| match self.failure(&ctx, e) {
              // A module's evaluation rejects its promise; what throws is linking.
              Some(Failure::Exception(err)) if module => Some(modules::link_failure(err)),
              other => other,
            })
        });
      if let Err(Some(f)) = ran {
        return Err(f);
      }
      // Promise reactions (an `async` main, `.then` chains) run to completion too.
      // (The state is not borrowed while jobs run: they call host functions.)
      loop {
        let ended = self.state.borrow().ended;
        if ended || !ctx.execute_pending_job() {
          break;
        }
      }
      if let Some(f) = self.state.borrow_mut().failure.take() {
        return Err(f);
      }
      if let Some(stop) = self.stop_failure() {
        return Err(stop);
      }
      let unhandled = self.unhandled.borrow_mut().take();
      if let Some(reason) = unhandled.filter(|_| !self.state.borrow().ended) {
        let reason = reason
          .restore(&ctx)
          .map_err(|e| Failure::Internal(e.to_string()))?;
        let error = self.read_error(&reason);
        return Err(
          self
            .stop_failure()
            .unwrap_or_else(|| self.exception_failure(error)),
        );
      }
      Ok(())
    });
    outcome?;
    let mut st = self.state.borrow_mut();
    let logs = st.logs.take();
    let logs_size: usize = logs.iter().map(|l| l.message.len() + l.level.len()).sum();
    st.budget.replace(0, logs_size)?;
    let changes = st.session.changes();
    Ok(ScriptOutput {
      response: std::mem::take(&mut st.response),
      variables_json: st.variables.to_json(),
      session_json: st.session.to_json(),
      session_changes_json: changes.to_json(),
      session_changed: !changes.is_empty(),
      cookies: std::mem::take(&mut st.cookies),
      logs,
      // The executor fills the record in once the execution is over.
      stats: Stats::empty(),
    })
  }

  /// The most memory the sandbox has held at once, in bytes.
  pub fn memory_peak(&self) -> usize {
    unsafe { JS_GetMemoryPeak(self.raw_runtime) }
  }

  /// Why the host stopped the script, when it did.
  fn stop_failure(&self) -> Option<Failure> {
    let exec = self.current.borrow().clone()?;
    match exec.stop_reason() {
      Stop::None => None,
      Stop::Cpu => Some(Failure::CpuTimeout {
        limit_ms: exec.limits.cpu_time.as_millis() as u64,
      }),
      Stop::Wall => Some(Failure::WallTimeout {
        limit_ms: exec.limits.wall_time.as_millis() as u64,
      }),
      Stop::Cancelled => Some(Failure::Internal(
        "the JavaScript environment that started the script was torn down".into(),
      )),
    }
  }

  /// Turns an error out of QuickJS into the failure it stands for; `None` when it is the script
  /// ending itself (`redirect`, `send`, `json`).
  fn failure(&self, ctx: &Ctx<'_>, e: rquickjs::Error) -> Option<Failure> {
    let host_failure = self.state.borrow_mut().failure.take();
    if let Some(f) = host_failure.or_else(|| self.stop_failure()) {
      ctx.catch();
      return Some(f);
    }
    if self.state.borrow().ended {
      ctx.catch();
      return None;
    }
    Some(match e {
      rquickjs::Error::Exception => {
        let thrown = ctx.catch();
        // When even the error object could not be allocated, QuickJS throws `null`; by then the
        // memory the failed allocation wanted may be free again, so its count of out-of-memory
        // errors says it too (the runtime is this execution's alone).
        let ran_out = unsafe { JS_GetOutOfMemoryCount(self.raw_runtime) } > 0;
        if !thrown.is_object() && (ran_out || self.near_memory_limit(ctx)) {
          return Some(self.memory_failure());
        }
        let error = self.read_error(&thrown);
        // Reading what was thrown ran its getters, which may have spent the budget.
        self
          .stop_failure()
          .unwrap_or_else(|| self.exception_failure(error))
      }
      rquickjs::Error::Allocation => self.memory_failure(),
      e => Failure::Internal(e.to_string()),
    })
  }

  /// Reads what the script threw. Its getters run (`name`, `message`, `stack`), within the
  /// execution's budgets, but every host call is refused from here on: the script is over.
  fn read_error(&self, thrown: &Value<'_>) -> JsError {
    self.state.borrow_mut().reporting = true;
    js_error(thrown, &|file| self.loader.knows(file))
  }

  fn exception_failure(&self, err: JsError) -> Failure {
    // "out of memory", and "out of memory in regexp execution" from the regex engine.
    if err.name == "InternalError" && err.message.starts_with("out of memory") {
      return self.memory_failure();
    }
    Failure::Exception(err)
  }

  fn memory_failure(&self) -> Failure {
    let limit = self
      .current
      .borrow()
      .as_ref()
      .map_or(0, |e| e.limits.memory_bytes);
    Failure::Memory {
      limit_bytes: limit as u64,
    }
  }

  fn near_memory_limit(&self, ctx: &Ctx<'_>) -> bool {
    let limit = self
      .current
      .borrow()
      .as_ref()
      .map_or(usize::MAX, |e| e.limits.memory_bytes);
    // The runtime is locked while a context is in use, so ask QuickJS directly.
    let used = unsafe {
      let mut usage = std::mem::zeroed::<qjs::JSMemoryUsage>();
      qjs::JS_ComputeMemoryUsage(qjs::JS_GetRuntime(ctx.as_raw().as_ptr()), &mut usage);
      usage.malloc_size as usize
    };
    used.saturating_add(64 << 10) >= limit
  }
}

/// Reads name, message and position from a thrown value: the position of the first stack frame
/// in the script or in one of its modules (`known`), with the module named.
pub fn js_error(value: &Value<'_>, known: &dyn Fn(&str) -> bool) -> JsError {
  let Some(obj) = value.as_object() else {
    let message = match value.as_string() {
      Some(s) => s.to_string().unwrap_or_default(),
      None => format!("a non-error value ({})", value.type_name()),
    };
    return JsError {
      name: "Error".into(),
      message,
      ..JsError::default()
    };
  };
  let get = |k: &str| obj.get::<_, Option<String>>(k).ok().flatten();
  let stack = get("stack");
  let frame = stack
    .as_deref()
    .and_then(|stack| first_frame(stack, &|file| file == SCRIPT_NAME || known(file)));
  let (module, line, column) = match frame {
    Some((file, line, column)) => (
      (file != SCRIPT_NAME).then(|| file.into()),
      Some(line),
      Some(column),
    ),
    None => (None, None, None),
  };
  JsError {
    name: get("name").unwrap_or_else(|| "Error".into()),
    message: get("message").unwrap_or_default(),
    line,
    column,
    module,
  }
}

/// The line and column of the first stack frame of an error the parser threw, whatever its file:
/// how far a parse got.
pub fn error_position(value: &Value<'_>) -> Option<(u32, u32)> {
  let stack: String = value.as_object()?.get("stack").ok()?;
  first_frame(&stack, &|_| true).map(|(_, line, column)| (line, column))
}

/// The first `FILE:LINE:COLUMN` in a QuickJS stack trace whose file is `wanted`, one frame per
/// line: `    at f (FILE:LINE:COLUMN)` or `    at FILE:LINE:COLUMN`.
fn first_frame<'s>(stack: &'s str, wanted: &dyn Fn(&str) -> bool) -> Option<(&'s str, u32, u32)> {
  stack.lines().find_map(|frame| {
    let frame = frame
      .trim_end()
      .strip_suffix(')')
      .unwrap_or(frame.trim_end());
    let mut parts = frame.rsplitn(3, ':');
    let column = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    let rest = parts.next()?;
    let file = rest
      .rsplit_once(" (")
      .map_or_else(|| rest.trim_start().trim_start_matches("at "), |(_, f)| f);
    wanted(file).then_some((file, line, column))
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn positions_are_read_from_the_first_frame_of_the_script_or_a_module() {
    let script = |f: &str| f == SCRIPT_NAME;
    let modules = |f: &str| f == SCRIPT_NAME || f == "validators";
    let stack = "    at f (backend-script:3:7)\n    at <eval> (backend-script:9:1)\n";
    assert_eq!(first_frame(stack, &script), Some((SCRIPT_NAME, 3, 7)));
    assert_eq!(
      first_frame("    at backend-script:12:30\n", &script),
      Some((SCRIPT_NAME, 12, 30))
    );
    assert_eq!(first_frame("    at parse (native)\n", &script), None);
    let stack = "    at isEmail (validators:4:11)\n    at <anonymous> (backend-script:2:1)\n";
    assert_eq!(first_frame(stack, &modules), Some(("validators", 4, 11)));
    assert_eq!(first_frame(stack, &script), Some((SCRIPT_NAME, 2, 1)));
    assert_eq!(
      first_frame(
        "    at x (elsewhere:1:1)\n    at date-utils.v2:5:6\n",
        &|f| f == "date-utils.v2"
      ),
      Some(("date-utils.v2", 5, 6))
    );
  }
}

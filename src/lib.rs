//! backend-scripts: run untrusted server-side page scripts in fresh QuickJS sandboxes.
//!
//! This file holds the module list and the exported functions; each validates its arguments,
//! hands the work to the module that does it, and converts errors once. The types they take and
//! give are declared where they are defined: options in `options.rs` and `proxy/options.rs`,
//! results in `result.rs`, `page/result.rs` and `outcome.rs`, and the running proxy's class,
//! `EgressProxy`, in `proxy/mod.rs`.

mod api;
mod cache;
mod egress;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod header;
mod io;
mod js;
mod json;
mod options;
mod outcome;
mod page;
pub mod policy;
mod proxy;
mod result;
mod sandbox;
mod wire;

use napi::bindgen_prelude::{Object, Unknown};
use napi::Env;
use napi_derive::napi;

use std::sync::Arc;

use crate::api::host::HostFunctions;
use crate::error::{ArgError, ScriptError, ValueKind};
use crate::js::{JsonText, Resolver};
use crate::options::{from_json, ExecutorOptions, RunOptions, ScriptContext};
use crate::result::ScriptResult;
use crate::sandbox::modules::{ModuleSet, Modules};
use crate::sandbox::{executor, Job, ScriptInput, Source};

/// Runs a page's backend script in a fresh, isolated QuickJS sandbox on the addon's own threads,
/// and resolves with the variables, session and cookie changes and response action it produced.
///
/// Rejects with an `Error` whose `code` is `ERR_SCRIPT_SYNTAX`, `ERR_SCRIPT_EXCEPTION`,
/// `ERR_SCRIPT_TIMEOUT`, `ERR_SCRIPT_MEMORY`, `ERR_SCRIPT_OUTPUT_LIMIT` or `ERR_SCRIPT_BUSY`, with
/// `line`, `column` (where known) and `logs`; with a `TypeError`/`RangeError` whose `code` is
/// `ERR_INVALID_ARG_TYPE`/`ERR_INVALID_ARG_VALUE` for bad arguments.
#[napi(
  ts_args_type = "source: string, context?: ScriptContext | null, proxyConfig?: ProxyConfig | null, options?: RunOptions | null, host?: { names: string[], call: (name: string, args: string) => Promise<string> } | null",
  ts_return_type = "Promise<ScriptResult>"
)]
pub fn run_backend_script<'env>(
  env: &'env Env,
  source: Option<Unknown<'env>>,
  context: Option<Unknown<'env>>,
  proxy_config: Option<Unknown<'env>>,
  options: Option<Unknown<'env>>,
  host: Option<Unknown<'env>>,
) -> napi::Result<Object<'env>> {
  execution(
    env,
    ("source", source),
    context,
    proxy_config,
    (options, host),
    |source, input, limits, settle| {
      executor().submit(Job {
        source: Source::Script(source),
        input,
        limits,
        settle: Box::new(move |outcome| {
          settle(outcome.map(|out| JsonText::of(&ScriptResult::from(out))))
        }),
      })
    },
  )
}

/// Runs a page's `<script scope="backend">` blocks (in document order, as one execution in a fresh
/// sandbox) and renders the rest of the page as a Jinja template with `var` bound to the script's
/// variables, HTML-escaped. The blocks never appear in the output.
///
/// Resolves with the response to send: a redirect, the body the script sent, or the rendered page.
/// Rejects as `runBackendScript` does (with `line`/`column` in the page's own numbering), or with
/// `code` `ERR_PAGE_TEMPLATE` and the page `line` when the template does not compile, fails while
/// rendering or runs out of its rendering budget.
#[napi(
  ts_args_type = "html: string, context?: ScriptContext | null, proxyConfig?: ProxyConfig | null, options?: RunOptions | null, host?: { names: string[], call: (name: string, args: string) => Promise<string> } | null",
  ts_return_type = "Promise<PageResult>"
)]
pub fn render_page<'env>(
  env: &'env Env,
  html: Option<Unknown<'env>>,
  context: Option<Unknown<'env>>,
  proxy_config: Option<Unknown<'env>>,
  options: Option<Unknown<'env>>,
  host: Option<Unknown<'env>>,
) -> napi::Result<Object<'env>> {
  page_execution(
    env,
    html,
    context,
    proxy_config,
    (options, host),
    page::Scripts::Run,
  )
}

/// Renders a page as `renderPage` does but without running its backend blocks: the template sees
/// `context.variables` only, and the result carries no session change, cookie, header or status
/// of a script (status 200). For showing a page whose script failed, or previewing its template.
///
/// Rejects with `ERR_PAGE_TEMPLATE` as `renderPage` does, and with a `TypeError`/`RangeError` for
/// bad arguments.
#[napi(
  ts_args_type = "html: string, context?: ScriptContext | null, options?: RunOptions | null",
  ts_return_type = "Promise<PageResult>"
)]
pub fn render_template<'env>(
  env: &'env Env,
  html: Option<Unknown<'env>>,
  context: Option<Unknown<'env>>,
  options: Option<Unknown<'env>>,
) -> napi::Result<Object<'env>> {
  page_execution(
    env,
    html,
    context,
    None,
    (options, None),
    page::Scripts::Skip,
  )
}

/// What `renderPage` and `renderTemplate` share: a page submitted with or without its scripts.
fn page_execution<'env>(
  env: &'env Env,
  html: Option<Unknown<'env>>,
  context: Option<Unknown<'env>>,
  proxy_config: Option<Unknown<'env>>,
  options: (Option<Unknown<'env>>, Option<Unknown<'env>>),
  scripts: page::Scripts,
) -> napi::Result<Object<'env>> {
  execution(
    env,
    ("html", html),
    context,
    proxy_config,
    options,
    |html, input, limits, settle| {
      page::submit(
        html,
        input,
        limits,
        scripts,
        Box::new(move |outcome| settle(outcome.map(|page| JsonText::of(&page)))),
      )
    },
  )
}

/// Checks a page without running anything: finds its backend blocks, compiles its template and
/// parses its script, on the addon's threads. Resolves with the errors found (none for a good
/// page): the template's (`ERR_PAGE_TEMPLATE`, with `line`) and the script's first syntax error
/// (`ERR_SCRIPT_SYNTAX`, with `line` and `column`), in the page's own numbering.
///
/// Rejects with `ERR_SCRIPT_BUSY` or `ERR_SCRIPT_MEMORY` when the check could not finish, and
/// with a `TypeError`/`RangeError` for bad arguments.
#[napi(
  ts_args_type = "html: string, options?: RunOptions | null",
  ts_return_type = "Promise<Diagnostic[]>"
)]
pub fn check_page<'env>(
  env: &'env Env,
  html: Option<Unknown<'env>>,
  options: Option<Unknown<'env>>,
) -> napi::Result<Object<'env>> {
  let (deferred, promise) = env.create_deferred::<JsonText, Resolver<JsonText>>()?;
  let parts = js::string_arg(html, "html", MAX_SOURCE_BYTES).and_then(|html| {
    let (input, limits) = script_inputs(env, None, None, (options, None))?;
    Ok((html, input, limits))
  });
  match parts {
    Err(e) => deferred.resolve(Box::new(move |env| Err(e.into_napi(&env)))),
    Ok((html, input, limits)) => page::check(
      html,
      input,
      limits,
      Box::new(move |outcome| {
        let outcome = outcome.map(|found| JsonText::of(&found));
        deferred.resolve(Box::new(move |env| outcome.map_err(|e| e.into_napi(&env))))
      }),
    ),
  }
  Ok(promise)
}

/// Compiles a site's shared modules (`{ name: source }`, ES modules) for scripts to `import` by
/// name: give the result to executions as `options.modules`. Each module is parsed once, here,
/// and every `import` in it checked; executions load the bytecode into their own fresh runtime,
/// where module code runs again and no module state survives.
///
/// Rejects with `ERR_SCRIPT_SYNTAX` (with `module`, `line`, `column`) for a module that does not
/// parse, `ERR_SCRIPT_MODULE` for an import that names no module of the set, and a
/// `TypeError`/`RangeError` for a name that is not a bare module name (letters, digits, `_`, `-`,
/// `.`; no paths or URLs), a source that is not a string, or sources past 8 MiB together.
#[napi(
  ts_args_type = "sources: Record<string, string>",
  ts_return_type = "Promise<Modules>"
)]
pub fn create_modules<'env>(
  env: &'env Env,
  sources: Option<Unknown<'env>>,
) -> napi::Result<Object<'env>> {
  let (deferred, promise) = env.create_deferred::<Modules, Resolver<Modules>>()?;
  match module_sources(env, sources) {
    Err(e) => deferred.resolve(Box::new(move |env| Err(e.into_napi(&env)))),
    Ok(sources) => {
      let compile = move || {
        let compiled = ModuleSet::compile(sources);
        deferred.resolve(Box::new(move |env| match compiled {
          Ok(set) => Ok(Modules { set: Arc::new(set) }),
          Err(f) => Err(ScriptError::new(f, Vec::new()).into_napi(&env)),
        }))
      };
      // Compiling takes time in proportion to the sources: never on Node's thread.
      std::thread::Builder::new()
        .name("backend-scripts-modules".into())
        .stack_size(sandbox::executor::THREAD_STACK)
        .spawn(compile)
        .map_err(|e| napi::Error::from_reason(format!("cannot start a thread: {e}")))?;
    }
  }
  Ok(promise)
}

/// `createModules`' argument, checked: bare names, string sources, at most `MAX_SOURCE_BYTES`.
fn module_sources(env: &Env, sources: Option<Unknown>) -> Result<Vec<(String, String)>, ArgError> {
  let json = js::object_arg(
    env,
    sources,
    "sources",
    "an object of module sources by name",
  )?
  .unwrap_or_else(|| "{}".into());
  let map: serde_json::Map<String, serde_json::Value> =
    serde_json::from_str(&json).map_err(|e| ArgError::Value {
      name: "sources".into(),
      reason: e.to_string(),
    })?;
  if map.len() > sandbox::modules::MAX_MODULES {
    return Err(ArgError::Range {
      name: "sources".into(),
      reason: format!(
        "holds {} modules; at most {} are allowed",
        map.len(),
        sandbox::modules::MAX_MODULES
      ),
    });
  }
  let mut total = 0usize;
  let mut out = Vec::with_capacity(map.len());
  for (name, source) in map {
    sandbox::modules::check_name(&name).map_err(|reason| ArgError::Value {
      name: format!("sources[{:?}]", name.chars().take(64).collect::<String>()),
      reason: format!("is not a module name: it {reason}"),
    })?;
    let serde_json::Value::String(source) = source else {
      return Err(ArgError::Type {
        name: format!("sources.{name}"),
        expected: "of type string".into(),
        received: ValueKind::of_json(&source).describe(None),
      });
    };
    total += source.len();
    if total > MAX_SOURCE_BYTES {
      return Err(ArgError::Range {
        name: "sources".into(),
        reason: format!("are more than {MAX_SOURCE_BYTES} bytes long together (UTF-8)"),
      });
    }
    out.push((name, source));
  }
  Ok(out)
}

/// The largest script or page an execution takes, in bytes of UTF-8: it is copied off Node's
/// thread and prepared in time and memory linear in its size, so its size is what bounds them.
pub const MAX_SOURCE_BYTES: usize = 8 << 20;

/// Delivers a result (serialized on the executor thread) or a failure to a promise.
type Settle = Box<dyn FnOnce(Result<JsonText, ScriptError>) + Send>;

/// What `runBackendScript` and `renderPage` share: validate the text to run (named `text.0`) and
/// the three arguments every execution takes, hand them to `start` with the means to settle the
/// promise, and return the promise (rejected at once for bad arguments).
fn execution<'env>(
  env: &'env Env,
  text: (&str, Option<Unknown<'env>>),
  context: Option<Unknown<'env>>,
  proxy_config: Option<Unknown<'env>>,
  options: (Option<Unknown<'env>>, Option<Unknown<'env>>),
  start: impl FnOnce(String, ScriptInput, options::Limits, Settle),
) -> napi::Result<Object<'env>> {
  let (deferred, promise) = env.create_deferred::<JsonText, Resolver<JsonText>>()?;
  let parts = js::string_arg(text.1, text.0, MAX_SOURCE_BYTES).and_then(|text| {
    let (input, limits) = script_inputs(env, context, proxy_config, options)?;
    Ok((text, input, limits))
  });
  match parts {
    Err(e) => deferred.resolve(Box::new(move |env| Err(e.into_napi(&env)))),
    Ok((text, input, limits)) => start(
      text,
      input,
      limits,
      Box::new(move |outcome| {
        deferred.resolve(Box::new(move |env| outcome.map_err(|e| e.into_napi(&env))))
      }),
    ),
  }
  Ok(promise)
}

/// Validates the arguments every execution takes (`context`, `proxyConfig`, `options`, and the
/// host functions' dispatcher that `lib/host.js` makes of `options.functions`); shared by
/// `runBackendScript` and `renderPage`.
fn script_inputs(
  env: &Env,
  context: Option<Unknown>,
  proxy_config: Option<Unknown>,
  (options, host): (Option<Unknown>, Option<Unknown>),
) -> Result<(ScriptInput, options::Limits), ArgError> {
  let modules = match js::property(options.as_ref(), "modules") {
    None => None,
    Some(m) => Some(js::instance_arg(
      &m,
      "options.modules",
      "a Modules set made by createModules()",
      |m: &Modules| m.set.clone(),
    )?),
  };
  let host = match host {
    Some(h) if !matches!(js::kind_of(&h), ValueKind::Undefined | ValueKind::Null) => {
      Some(Arc::new(HostFunctions::from_dispatch(&h)?))
    }
    _ => None,
  };
  let context: ScriptContext = match js::object_arg(env, context, "context", "ScriptContext")? {
    Some(json) => from_json("context", &json)?,
    None => ScriptContext::default(),
  };
  let egress = match js::object_arg(env, proxy_config, "proxyConfig", "ProxyConfig")? {
    Some(json) => Some(egress::egress_for(&json)?),
    None => None,
  };
  let options: RunOptions = match js::object_arg(env, options, "options", "RunOptions")? {
    Some(json) => from_json("options", &json)?,
    None => RunOptions::default(),
  };
  let input = ScriptInput {
    caller: js::caller(env),
    request_json: api::normalize_request(context.request)?,
    session: context.session.unwrap_or_default(),
    variables: context.variables.unwrap_or_default(),
    egress,
    compile_only: false,
    modules,
    host,
  };
  Ok((input, options.into_limits()?))
}

/// Starts an egress proxy: an authenticated HTTP/1.1 forward proxy (absolute-form `http://`
/// requests and `CONNECT` tunnels) that refuses every destination the egress policy blocks, at
/// connect time, for every address the host name resolves to. Give scripts its `url` and one of
/// its `credentials` in `proxyConfig`.
///
/// The proxy runs on the addon's I/O threads and does not keep Node's event loop alive by
/// itself; call `close()` to stop it. Rejects with `ERR_INVALID_ARG_TYPE`/`ERR_INVALID_ARG_VALUE`
/// for bad options, and with the system's code (such as `EADDRINUSE`) when it cannot listen.
#[napi(
  ts_args_type = "options: EgressProxyOptions",
  ts_return_type = "Promise<EgressProxy>"
)]
pub fn start_egress_proxy<'env>(
  env: &'env Env,
  options: Option<Unknown<'env>>,
) -> napi::Result<Object<'env>> {
  let (deferred, promise) =
    env.create_deferred::<proxy::EgressProxy, Resolver<proxy::EgressProxy>>()?;
  match proxy::read_options(env, options) {
    Err(e) => deferred.resolve(Box::new(move |env| Err(e.into_napi(&env)))),
    Ok((settings, sink)) => proxy::start(settings, sink, move |resolve| deferred.resolve(resolve)),
  }
  Ok(promise)
}

/// Sets process-wide executor settings: how many executions run JavaScript at once
/// (`maxConcurrency`), how many may wait (`maxQueue`), and how many may be started and unfinished
/// (`maxInFlight`). Applies to every thread and worker of the process. Returns the settings now
/// in force.
#[napi(
  ts_args_type = "options?: ExecutorOptions | null",
  ts_return_type = "ExecutorSettings"
)]
pub fn configure(env: &Env, options: Option<Unknown>) -> napi::Result<ExecutorSettings> {
  let parsed =
    js::object_arg(env, options, "options", "ExecutorOptions").and_then(|json| match json {
      Some(json) => from_json::<ExecutorOptions>("options", &json),
      None => Ok(ExecutorOptions::default()),
    });
  let ex = executor();
  let config = parsed
    .and_then(|o| o.apply_to(ex.config()))
    .map_err(|e| e.into_napi(env))?;
  ex.set_config(config);
  Ok(ExecutorSettings {
    max_concurrency: config.max_concurrency as u32,
    max_queue: config.max_queue as u32,
    max_in_flight: config.max_in_flight as u32,
    max_abandoned: config.max_abandoned as u32,
  })
}

/// What the executor is doing right now: running, queued and in-flight executions, threads, and
/// threads still finishing scripts that were already answered for. For monitoring.
#[napi]
pub fn executor_stats() -> sandbox::executor::ExecutorStats {
  executor().stats()
}

/// The executor settings in force.
#[napi(object, object_from_js = false)]
pub struct ExecutorSettings {
  pub max_concurrency: u32,
  pub max_queue: u32,
  pub max_in_flight: u32,
  pub max_abandoned: u32,
}

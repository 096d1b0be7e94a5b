//! A site's shared modules: ES modules given by name (`createModules({ validators: '…' })`),
//! compiled once to bytecode and loaded into each execution's fresh runtime, so that a page
//! importing them pays no parse of their source. Only names in the set resolve: a relative path,
//! a URL or `node:` name never does, and `import()` always rejects (the vendored patch), so a
//! script's whole module graph is known and linked before it runs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Arc;

use rquickjs::{qjs, Context, Ctx, Runtime, Value};

use napi_derive::napi;

use crate::error::Failure;

/// At most this many modules in a set…
pub const MAX_MODULES: usize = 1000;
/// …with names of at most this many bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// The memory a set may take to compile: its sources are the site's own and at most
/// `MAX_SOURCE_BYTES` together, so this is room, not a budget.
const COMPILE_MEMORY_BYTES: usize = 512 << 20;

/// A site's shared modules, compiled: made by `createModules()`, given to executions as
/// `options.modules`. Holds bytecode only; every execution loads it into its own fresh runtime,
/// so module state never outlives an execution.
#[napi]
pub struct Modules {
  pub(crate) set: Arc<ModuleSet>,
}

#[napi]
impl Modules {
  /// The names scripts can import, sorted.
  #[napi(getter)]
  pub fn names(&self) -> Vec<String> {
    self.set.names().into_iter().map(String::from).collect()
  }
}

/// A compiled set of modules, shared by every execution given it.
pub struct ModuleSet {
  modules: HashMap<String, Compiled>,
}

struct Compiled {
  code: Box<[u8]>,
  /// Kept only to point at the importing line when an import fails.
  source: Box<str>,
}

impl ModuleSet {
  pub fn contains(&self, name: &str) -> bool {
    self.modules.contains_key(name)
  }

  /// The names, sorted.
  pub fn names(&self) -> Vec<&str> {
    let mut names: Vec<&str> = self.modules.keys().map(String::as_str).collect();
    names.sort_unstable();
    names
  }

  fn source(&self, name: &str) -> Option<&str> {
    self.modules.get(name).map(|m| &*m.source)
  }

  /// Compiles every module (checking that each parses and that every import names a module of
  /// the set) and keeps their bytecode. Runs on a thread of its own, never Node's: its time
  /// grows with the sources.
  pub fn compile(sources: Vec<(String, String)>) -> Result<ModuleSet, Failure> {
    let internal = |e: rquickjs::Error| Failure::Internal(format!("cannot compile modules: {e}"));
    // Declared before the runtime, so dropped after it: the runtime's hooks point at it.
    let loader = Box::new(Loader::default());
    let runtime = Runtime::new().map_err(internal)?;
    runtime.set_memory_limit(COMPILE_MEMORY_BYTES);
    runtime.set_max_stack_size(crate::options::MAX_STACK_BYTES / 2);
    // While compiling, an import only has to name a module of the set (see `load`).
    *loader.pending.borrow_mut() = Some(sources.into_iter().collect());
    install(
      raw_runtime(&Context::base(&runtime).map_err(internal)?),
      &loader,
    );
    let mut codes = HashMap::new();
    for (name, source) in loader.pending.borrow().iter().flatten() {
      // A context of its own for each, so that each module is compiled, not found already loaded.
      let context = Context::full(&runtime).map_err(internal)?;
      let code = context.with(|ctx| -> Result<Box<[u8]>, Failure> {
        let module = unsafe { parse(&ctx, source, name, qjs::JS_EVAL_TYPE_MODULE) }
          .map_err(|()| loader.failure(&ctx, source, Some(name)))?;
        unsafe { write(&ctx, &module) }.ok_or(Failure::Memory {
          limit_bytes: COMPILE_MEMORY_BYTES as u64,
        })
      })?;
      codes.insert(name.clone(), code);
    }
    let sources = loader.pending.take().unwrap_or_default();
    let modules = sources
      .into_iter()
      .filter_map(|(name, source)| {
        let code = codes.remove(&name)?;
        let source = source.into_boxed_str();
        Some((name, Compiled { code, source }))
      })
      .collect();
    Ok(ModuleSet { modules })
  }
}

/// `Ok` when `name` may name a shared module: 1 to 64 letters, digits, `_`, `-` and `.`, starting
/// with a letter or `_` (so never a path, a URL, a `node:` name or `..`). Otherwise why not.
pub fn check_name(name: &str) -> Result<(), String> {
  if name.is_empty() || name.len() > MAX_NAME_BYTES {
    return Err(format!("must be 1 to {MAX_NAME_BYTES} characters long"));
  }
  let first_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
  let rest_ok = name
    .chars()
    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
  if !first_ok || !rest_ok {
    return Err(
      "must start with a letter or _ and hold only letters, digits, _, - and . (a bare name, \
       not a path or URL)"
        .into(),
    );
  }
  if name == super::runtime::SCRIPT_NAME || name == super::runtime::PRELUDE_NAME {
    return Err(format!("{name:?} is a name the sandbox itself uses"));
  }
  Ok(())
}

/// What a runtime's module hooks read: the set the current execution was given, and the first
/// import that did not resolve. Owned by the sandbox, at a fixed address, for as long as its
/// runtime lives.
#[derive(Default)]
pub struct Loader {
  set: RefCell<Option<Arc<ModuleSet>>>,
  /// While a set is compiled: the sources, by name.
  pending: RefCell<Option<HashMap<String, String>>>,
  missing: RefCell<Option<Missing>>,
}

/// An import that did not resolve: what was imported, and by whom (`None`: the script).
struct Missing {
  name: String,
  importer: Option<String>,
}

impl Loader {
  /// Gives the next execution its set (or none).
  pub fn set_modules(&self, set: Option<Arc<ModuleSet>>) {
    *self.set.borrow_mut() = set;
    *self.missing.borrow_mut() = None;
  }

  /// The failure for a compile, resolve or link that failed: the import that did not resolve
  /// (`ERR_SCRIPT_MODULE`), or what was thrown. `source` is the script's (or, while compiling a
  /// set, the module's, named `module`).
  pub fn failure(&self, ctx: &Ctx<'_>, source: &str, module: Option<&str>) -> Failure {
    let thrown = ctx.catch();
    if let Some(missing) = self.missing.borrow_mut().take() {
      return self.missing_failure(missing, source, module);
    }
    let known = |file: &str| self.knows(file) || Some(file) == module;
    let err = super::runtime::js_error(&thrown, &known);
    match err.name.as_str() {
      "SyntaxError" if err.line.is_some() => Failure::Syntax(err),
      _ => link_failure(err),
    }
  }

  /// Whether an import went unresolved (and must be reported as such, not as what it threw).
  pub fn has_missing(&self) -> bool {
    self.missing.borrow().is_some()
  }

  /// Whether `file` names a module of the current set.
  pub fn knows(&self, file: &str) -> bool {
    self.set.borrow().as_ref().is_some_and(|s| s.contains(file))
      || self
        .pending
        .borrow()
        .as_ref()
        .is_some_and(|s| s.contains_key(file))
  }

  fn missing_failure(&self, missing: Missing, script: &str, compiled: Option<&str>) -> Failure {
    let set = self.set.borrow();
    let pending = self.pending.borrow();
    let importer_source = match missing.importer.as_deref() {
      None => Some(script),
      Some(m) if Some(m) == compiled => Some(script),
      Some(m) => set
        .as_ref()
        .and_then(|s| s.source(m))
        .or_else(|| pending.as_ref().and_then(|p| p.get(m).map(String::as_str))),
    };
    let line = importer_source.and_then(|s| import_line(s, &missing.name));
    let names: Vec<&str> = match (&*set, &*pending) {
      (Some(s), _) => s.names(),
      (None, Some(p)) => {
        let mut names: Vec<&str> = p.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
      }
      (None, None) => vec![],
    };
    let at = match (&missing.importer, line) {
      (Some(m), Some(l)) => format!(" (module {m}, line {l})"),
      (Some(m), None) => format!(" (module {m})"),
      (None, Some(l)) => format!(" (line {l})"),
      (None, None) => String::new(),
    };
    let why = if check_name(&missing.name).is_err() {
      "only the names of the site's shared modules can be imported, not paths, URLs or node: \
       modules"
        .to_string()
    } else if names.is_empty() {
      "no shared modules were given (options.modules)".to_string()
    } else {
      let shown = names
        .iter()
        .take(10)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
      let more = if names.len() > 10 { ", …" } else { "" };
      format!("no shared module has that name (the modules are {shown}{more})")
    };
    Failure::Module {
      message: format!("cannot import {:?}{at}: {why}", missing.name),
      module: missing.importer,
      line,
    }
  }
}

/// What linking threw: an import of a name the module does not export, an ambiguous `export *`
/// (a `SyntaxError` or `ReferenceError` without a position) is `ERR_SCRIPT_MODULE`; anything else
/// is the exception it is.
pub fn link_failure(err: crate::error::JsError) -> Failure {
  match err.name.as_str() {
    "SyntaxError" | "ReferenceError" => Failure::Module {
      message: err.message,
      module: err.module.map(String::from),
      line: err.line,
    },
    _ => Failure::Exception(err),
  }
}

/// Installs `loader`'s hooks on a runtime; `loader` must outlive it.
pub fn install(rt: *mut qjs::JSRuntime, loader: &Loader) {
  unsafe {
    qjs::JS_SetModuleLoaderFunc(
      rt,
      Some(normalize),
      Some(load),
      loader as *const Loader as *mut c_void,
    )
  };
}

/// The runtime a context belongs to, for the QuickJS functions rquickjs does not wrap.
pub fn raw_runtime(context: &Context) -> *mut qjs::JSRuntime {
  context.with(|ctx| unsafe { qjs::JS_GetRuntime(ctx.as_raw().as_ptr()) })
}

/// QuickJS's `module_normalize`: a name of the set is its own canonical name; anything else is
/// recorded (the first one) and refused.
unsafe extern "C" fn normalize(
  ctx: *mut qjs::JSContext,
  base: *const c_char,
  name: *const c_char,
  opaque: *mut c_void,
) -> *mut c_char {
  let loader = unsafe { &*(opaque as *const Loader) };
  let wanted = unsafe { CStr::from_ptr(name) }.to_string_lossy();
  if loader.knows(&wanted) {
    return unsafe { qjs::js_strdup(ctx, name) };
  }
  let base = unsafe { CStr::from_ptr(base) }.to_string_lossy();
  let mut missing = loader.missing.borrow_mut();
  if missing.is_none() {
    *missing = Some(Missing {
      name: wanted.into_owned(),
      importer: (base != super::runtime::SCRIPT_NAME).then(|| base.into_owned()),
    });
  }
  unsafe { qjs::JS_ThrowReferenceError(ctx, c"module not found".as_ptr()) };
  std::ptr::null_mut()
}

/// QuickJS's `module_loader`: the module's bytecode from the set, or (while a set is compiled) a
/// stand-in.
unsafe extern "C" fn load(
  ctx: *mut qjs::JSContext,
  name: *const c_char,
  opaque: *mut c_void,
) -> *mut qjs::JSModuleDef {
  let loader = unsafe { &*(opaque as *const Loader) };
  let name_str = unsafe { CStr::from_ptr(name) }.to_string_lossy();
  let value = if let Some(set) = loader.set.borrow().as_ref() {
    let Some(module) = set.modules.get(&*name_str) else {
      unsafe { qjs::JS_ThrowReferenceError(ctx, c"module not found".as_ptr()) };
      return std::ptr::null_mut();
    };
    unsafe {
      qjs::JS_ReadObject(
        ctx,
        module.code.as_ptr(),
        module.code.len() as _,
        qjs::JS_READ_OBJ_BYTECODE as i32,
      )
    }
  } else {
    // While a set is compiled, an import only has to name a module of it: a stand-in without
    // imports of its own, so that no module is compiled inside another (however long a chain
    // of imports, the parser never nests). Whether the names imported exist is checked when
    // executions link the real modules.
    if !loader.knows(&name_str) {
      unsafe { qjs::JS_ThrowReferenceError(ctx, c"module not found".as_ptr()) };
      return std::ptr::null_mut();
    }
    return unsafe { qjs::JS_NewCModule(ctx, name, Some(stand_in)) };
  };
  unsafe {
    if qjs::JS_VALUE_GET_TAG(value) != qjs::JS_TAG_MODULE {
      qjs::JS_FreeValue(ctx, value);
      return std::ptr::null_mut();
    }
    // The runtime keeps the module in its list of loaded modules; the value is not needed.
    let module = qjs::JS_VALUE_GET_PTR(value).cast::<qjs::JSModuleDef>();
    qjs::JS_FreeValue(ctx, value);
    module
  }
}

/// A stand-in module's body: never run, as a set being compiled is never evaluated.
unsafe extern "C" fn stand_in(_ctx: *mut qjs::JSContext, _m: *mut qjs::JSModuleDef) -> i32 {
  0
}

/// Parses `source` as a script (`JS_EVAL_TYPE_GLOBAL`) or module without running it. `Err(())`
/// leaves the exception pending.
///
/// # Safety
/// A module's imports are loaded as it is parsed: the runtime's hooks must be installed.
pub unsafe fn parse<'js>(
  ctx: &Ctx<'js>,
  source: &str,
  name: &str,
  kind: u32,
) -> Result<Value<'js>, ()> {
  // QuickJS wants a NUL after the source; a NUL inside it is a syntax error the parser reports.
  let source = CString::new(source.replace('\0', "\u{FFFD}")).expect("NULs were replaced");
  let name = CString::new(name).expect("no NUL in script or module names");
  unsafe {
    let flags = (kind | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32;
    let v = qjs::JS_Eval(
      ctx.as_raw().as_ptr(),
      source.as_ptr(),
      source.as_bytes().len() as _,
      name.as_ptr(),
      flags,
    );
    if qjs::JS_IsException(v) {
      return Err(());
    }
    Ok(Value::from_raw(ctx.clone(), v))
  }
}

/// A compiled script or module as bytecode; `None` when it does not fit in memory.
///
/// # Safety
/// `compiled` must come from [`parse`] or a bytecode read.
pub unsafe fn write(ctx: &Ctx<'_>, compiled: &Value<'_>) -> Option<Box<[u8]>> {
  unsafe {
    let mut len = 0usize;
    let buf = qjs::JS_WriteObject(
      ctx.as_raw().as_ptr(),
      &mut len as *mut usize as *mut _,
      compiled.as_raw(),
      qjs::JS_WRITE_OBJ_BYTECODE as i32,
    );
    if buf.is_null() {
      ctx.catch();
      return None;
    }
    let code: Box<[u8]> = std::slice::from_raw_parts(buf, len).into();
    qjs::js_free(ctx.as_raw().as_ptr(), buf as *mut _);
    Some(code)
  }
}

/// Loads what a module read from bytecode imports, and with them what they import; `Err(())`
/// leaves the exception pending.
pub fn resolve<'js>(ctx: &Ctx<'js>, module: Value<'js>) -> Result<Value<'js>, ()> {
  if unsafe { qjs::JS_ResolveModule(ctx.as_raw().as_ptr(), module.as_raw()) } < 0 {
    // QuickJS has freed every module it could not resolve, this one included: the value must
    // not be released again.
    std::mem::forget(module);
    return Err(());
  }
  Ok(module)
}

/// Whether a compiled value is a module (rather than a script).
pub fn is_module(compiled: &Value<'_>) -> bool {
  unsafe { qjs::JS_VALUE_GET_TAG(compiled.as_raw()) == qjs::JS_TAG_MODULE }
}

/// The 1-based line of the first `import … from 'name'` / `import 'name'` / `export … from
/// 'name'` in `source`: the quoted name right after `from` or `import`. Linear in the source.
pub fn import_line(source: &str, name: &str) -> Option<u32> {
  let keyword_before = |at: usize| {
    let before = source[..at].trim_end_matches([' ', '\t', '\r', '\n']);
    ["from", "import"].iter().any(|k| {
      before.ends_with(k)
        && !before[..before.len() - k.len()]
          .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    })
  };
  let first = |quote: char| {
    let needle = format!("{quote}{name}{quote}");
    source
      .match_indices(&needle)
      .map(|(at, _)| at)
      .find(|&at| keyword_before(at))
  };
  let at = match (first('\''), first('"')) {
    (Some(a), Some(b)) => a.min(b),
    (a, b) => a.or(b)?,
  };
  Some(source[..at].matches('\n').count() as u32 + 1)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn module_names_are_bare_names() {
    for good in [
      "validators",
      "format",
      "date-utils",
      "lib.strings",
      "_private",
      "a1",
    ] {
      assert_eq!(check_name(good), Ok(()), "{good}");
    }
    for bad in [
      "",
      "./validators",
      "../x",
      "node:fs",
      "https://example.com/x.js",
      "a/b",
      "1abc",
      ".hidden",
      "-x",
      "name with space",
      "café",
      "backend-script",
      "prelude",
      &"a".repeat(65),
    ] {
      assert!(check_name(bad).is_err(), "{bad:?}");
    }
  }

  #[test]
  fn the_importing_line_is_found_after_from_or_import() {
    let source = "// uses 'validators'\nconst s = 'validators';\nimport { isEmail }\n  from \"validators\";\nimport 'side';\nexport { x } from 'format';";
    assert_eq!(import_line(source, "validators"), Some(4));
    assert_eq!(import_line(source, "side"), Some(5));
    assert_eq!(import_line(source, "format"), Some(6));
    assert_eq!(import_line(source, "missing"), None);
    assert_eq!(import_line("transform 'x'", "x"), None);
    assert_eq!(import_line("reimport 'x'", "x"), None);
    assert_eq!(import_line("import'x'", "x"), Some(1));
  }
}

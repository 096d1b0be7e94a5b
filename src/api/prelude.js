// The first code run in every fresh context, before the page script. It receives the raw host
// functions in `host`, keeps them inside closures, and returns `setup`, which the executor calls
// once the job is known. Everything it needs is captured here, so a script that replaces a
// built-in (JSON, Object.freeze, String.prototype.slice) changes nothing for the host.
(function (host) {
  'use strict';
  const { freeze, keys, defineProperty } = Object;
  const { parse, stringify } = JSON;
  const slice = String.prototype.slice;
  // Captured too, so that a script's own Reflect.apply is never called by the host's code.
  const apply = Reflect.apply;
  const call = (f, self, ...args) => apply(f, self, args);

  // Without recursion, so that a request nested as deep as the host allows freezes whole.
  function deepFreeze(root) {
    const pending = [root];
    while (pending.length > 0) {
      const value = pending[pending.length - 1];
      pending.length--;
      if (value !== null && typeof value === 'object') {
        freeze(value);
        for (const k of keys(value)) pending[pending.length] = value[k];
      }
    }
    return root;
  }

  // ---- console: Node's util.format rules, objects as JSON --------------------------------
  function json(value) {
    const seen = [];
    return stringify(value, function (key, v) {
      if (typeof v === 'bigint') return `${v}n`;
      if (typeof v === 'function') return `[Function: ${v.name || '(anonymous)'}]`;
      if (typeof v === 'symbol') return v.toString();
      if (v === undefined && key !== '') return null;
      if (v !== null && typeof v === 'object') {
        if (seen.indexOf(v) !== -1) return '[Circular]';
        seen.push(v);
        if (v instanceof Error) {
          const o = { name: v.name, message: v.message };
          for (const k of keys(v)) o[k] = v[k];
          return o;
        }
        if (v instanceof Map) return { Map: [...v.entries()] };
        if (v instanceof Set) return { Set: [...v.values()] };
      }
      return v;
    });
  }
  function inspect(v) {
    switch (typeof v) {
      case 'string':
        return v;
      case 'number':
        return Object.is(v, -0) ? '-0' : `${v}`;
      case 'bigint':
        return `${v}n`;
      case 'undefined':
        return 'undefined';
      case 'symbol':
        return v.toString();
      case 'function':
        return `[Function: ${v.name || '(anonymous)'}]`;
      default:
        if (v === null) return 'null';
        if (v instanceof Error) return v.stack ? `${v.name}: ${v.message}\n${v.stack}`.trimEnd() : `${v.name}: ${v.message}`;
        try {
          const s = json(v);
          return s === undefined ? `${v}` : s;
        } catch (e) {
          return `[object that cannot be printed: ${e && e.message}]`;
        }
    }
  }
  function format(args) {
    let out = '';
    let i = 0;
    if (typeof args[0] === 'string' && args.length > 1) {
      const f = args[0];
      i = 1;
      let last = 0;
      for (let p = 0; p < f.length - 1; p++) {
        if (f[p] !== '%') continue;
        const c = f[p + 1];
        let rep;
        if (c === '%') rep = '%';
        else if (i >= args.length) continue;
        else if (c === 's') rep = typeof args[i] === 'object' && args[i] !== null ? inspect(args[i++]) : inspect(args[i++]);
        else if (c === 'd' || c === 'i') {
          const a = args[i++];
          rep =
            typeof a === 'bigint'
              ? `${a}n`
              : typeof a === 'object' && a !== null
                ? 'NaN'
                : inspect(c === 'i' ? Math.trunc(Number(a)) : Number(a));
        } else if (c === 'f') rep = inspect(parseFloat(args[i++]));
        else if (c === 'j') {
          try {
            rep = stringify(args[i++]);
          } catch (e) {
            rep = '[Circular]';
          }
        } else if (c === 'o' || c === 'O') rep = inspect(args[i++]);
        else if (c === 'c') {
          i++;
          rep = '';
        } else continue;
        out += call(slice, f, last, p) + rep;
        last = p + 2;
        p++;
      }
      out += call(slice, f, last);
    }
    // The first argument is taken as it is: `'' + s` would copy a string that may fill the heap.
    for (; i < args.length; i++) out = i === 0 ? inspect(args[i]) : `${out} ${inspect(args[i])}`;
    return out;
  }
  // The host keeps at most 64 KiB of log (UTF-8), which 65,537 UTF-16 units always exceed: send no
  // more than that, so a giant string is not copied whole out of a heap it may already fill.
  const MAX_LOG_UNITS = 65537;
  const console = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    console[level] = {
      [level](...args) {
        host.log(level, call(slice, format(args), 0, MAX_LOG_UNITS));
      },
    }[level];
  }

  const define = (name, value) =>
    defineProperty(globalThis, name, { value: freeze(value), writable: true, configurable: true, enumerable: false });
  define('console', console);

  return function setup(requestJson) {
    define('request', deepFreeze(parse(requestJson)));
  };
});

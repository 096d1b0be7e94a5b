// The first code run in every fresh context, before the page script. It receives the raw host
// functions in `host`, keeps them inside closures, and returns `setup`, which the executor calls
// once the job is known. Everything it needs is captured here, so a script that replaces a
// built-in (JSON, Object.freeze, String.prototype.*) changes nothing for the host.
(function (host) {
  'use strict';
  const { freeze, keys, defineProperty, getOwnPropertyNames } = Object;
  const { parse, stringify } = JSON;
  const isArray = Array.isArray;
  const RE = RegExp;
  const S = String.prototype;
  const native = {
    indexOf: S.indexOf,
    lastIndexOf: S.lastIndexOf,
    includes: S.includes,
    split: S.split,
    replace: S.replace,
    replaceAll: S.replaceAll,
    slice: S.slice,
  };
  const exec = RE.prototype.exec;
  const push = Array.prototype.push;
  const call = (f, self, ...args) => Reflect.apply(f, self, args);

  function deepFreeze(value) {
    if (value !== null && typeof value === 'object') {
      freeze(value);
      for (const k of keys(value)) deepFreeze(value[k]);
    }
    return value;
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
          rep = typeof a === 'bigint' ? `${a}n` : typeof a === 'object' && a !== null ? 'NaN' : inspect(c === 'i' ? Math.trunc(Number(a)) : Number(a));
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
        out += call(native.slice, f, last, p) + rep;
        last = p + 2;
        p++;
      }
      out += call(native.slice, f, last);
    }
    for (; i < args.length; i++) out += (out === '' && i === 0 ? '' : ' ') + inspect(args[i]);
    return out;
  }
  const console = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    console[level] = { [level](...args) { host.log(level, format(args)); } }[level];
  }

  // ---- string search guards --------------------------------------------------------------
  // QuickJS searches strings naively: a long needle in a long haystack can cost
  // length × length steps inside one builtin call, where the interrupt handler is never polled.
  // Past GUARD steps the same search runs through the regular-expression engine, which polls it.
  const GUARD = 100000;
  const costly = (hay, needle) => needle.length > 1 && hay.length * needle.length > GUARD;
  const literal = (needle, flags) => new RE(call(native.replace, needle, /[\\^$.*+?()[\]{}|/-]/g, '\\$&'), flags);
  const coerce = (self, name) => {
    if (self === null || self === undefined) throw new TypeError(`String.prototype.${name} called on null or undefined`);
    return `${self}`;
  };
  const isRegExp = (v) => v !== null && typeof v === 'object' && v instanceof RE;
  function indexFrom(hay, needle, from) {
    const re = literal(needle, 'g');
    re.lastIndex = from;
    const m = call(exec, re, hay);
    return m === null ? -1 : m.index;
  }
  const guards = {
    indexOf(search, position) {
      const hay = coerce(this, 'indexOf');
      const needle = `${search}`;
      if (!costly(hay, needle)) return call(native.indexOf, hay, needle, position);
      const from = Math.min(Math.max(Math.trunc(Number(position)) || 0, 0), hay.length);
      return indexFrom(hay, needle, from);
    },
    includes(search, position) {
      const hay = coerce(this, 'includes');
      if (isRegExp(search) || !costly(hay, `${search}`)) return call(native.includes, hay, search, position);
      return call(guards.indexOf, hay, search, position) !== -1;
    },
    lastIndexOf(search, position) {
      const hay = coerce(this, 'lastIndexOf');
      const needle = `${search}`;
      if (!costly(hay, needle)) return call(native.lastIndexOf, hay, needle, position);
      const n = Number(position);
      const max = Number.isNaN(n) ? hay.length : Math.min(Math.max(Math.trunc(n), 0), hay.length);
      let found = -1;
      for (let at = indexFrom(hay, needle, 0); at !== -1 && at <= max; at = indexFrom(hay, needle, at + 1)) found = at;
      return found;
    },
    split(separator, limit) {
      const hay = coerce(this, 'split');
      if (typeof separator !== 'string' || !costly(hay, separator)) return call(native.split, hay, separator, limit);
      const lim = limit === undefined ? 2 ** 32 - 1 : limit >>> 0;
      const out = [];
      if (lim === 0) return out;
      let p = 0;
      for (let q = indexFrom(hay, separator, 0); q !== -1; q = indexFrom(hay, separator, p)) {
        call(push, out, call(native.slice, hay, p, q));
        if (out.length === lim) return out;
        p = q + separator.length;
      }
      call(push, out, call(native.slice, hay, p));
      return out;
    },
    replace(pattern, replacement) {
      const hay = coerce(this, 'replace');
      if (typeof pattern !== 'string' || !costly(hay, pattern)) return call(native.replace, hay, pattern, replacement);
      return call(native.replace, hay, literal(pattern, ''), replacement);
    },
    replaceAll(pattern, replacement) {
      const hay = coerce(this, 'replaceAll');
      if (typeof pattern !== 'string' || !costly(hay, pattern)) return call(native.replaceAll, hay, pattern, replacement);
      return call(native.replace, hay, literal(pattern, 'g'), replacement);
    },
  };
  for (const name of getOwnPropertyNames(guards)) {
    defineProperty(S, name, { value: guards[name], writable: true, configurable: true, enumerable: false });
  }

  const define = (name, value) =>
    defineProperty(globalThis, name, { value: freeze(value), writable: true, configurable: true, enumerable: false });
  define('console', console);

  return function setup(requestJson) {
    define('request', deepFreeze(parse(requestJson)));
  };
});

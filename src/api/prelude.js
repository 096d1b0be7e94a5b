// The first code run in every fresh context, before the page script. It receives the raw host
// functions in `host`, keeps them inside closures, and returns `setup`, which the executor calls
// once the job is known. Everything it needs is captured here, so a script that replaces a
// built-in (JSON, Object.freeze, String.prototype.*) changes nothing for the host.
(function (host) {
  'use strict';
  const { freeze, keys, defineProperty, getOwnPropertyNames } = Object;
  const { parse, stringify } = JSON;
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
  const push = Array.prototype.push;
  // Captured too: a script's own Reflect.apply would be handed the unguarded natives below.
  const apply = Reflect.apply;
  const call = (f, self, ...args) => apply(f, self, args);

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
        host.log(level, call(native.slice, format(args), 0, MAX_LOG_UNITS));
      },
    }[level];
  }

  // ---- string search guards --------------------------------------------------------------
  // QuickJS searches strings naively: a long needle in a long haystack can cost
  // length × length steps inside one builtin call, which no deadline can interrupt. A search that
  // could cost more than GUARD steps runs here instead, in pieces the interrupt checks can stop
  // between: windows searched natively when the needle is short, a linear Knuth–Morris–Pratt scan
  // when it is long.
  const GUARD = 1 << 20;
  const LONG_NEEDLE = 4096;
  const costly = (hay, needle) => needle.length > 1 && (hay.length - needle.length + 1) * needle.length > GUARD;
  const coerce = (self, name) => {
    if (self === null || self === undefined) throw new TypeError(`String.prototype.${name} called on null or undefined`);
    return `${self}`;
  };
  const isRegExp = (v) => v !== null && typeof v === 'object' && v instanceof RE;
  const clamp = (n, max) => Math.min(Math.max(Math.trunc(n) || 0, 0), max);
  function prefixTable(needle) {
    const t = new Int32Array(needle.length);
    for (let i = 1, k = 0; i < needle.length; i++) {
      while (k > 0 && needle.charCodeAt(i) !== needle.charCodeAt(k)) k = t[k - 1];
      if (needle.charCodeAt(i) === needle.charCodeAt(k)) k++;
      t[i] = k;
    }
    return t;
  }
  // Start of the first match at or after `from`, or -1.
  function find(hay, needle, from) {
    const m = needle.length;
    if (m <= LONG_NEEDLE) {
      const span = Math.max(m, Math.floor(GUARD / m));
      for (let p = from; p + m <= hay.length; p += span) {
        const at = call(native.indexOf, call(native.slice, hay, p, p + span + m - 1), needle);
        if (at !== -1) return p + at;
      }
      return -1;
    }
    const t = prefixTable(needle);
    for (let i = from, k = 0; i < hay.length; i++) {
      const c = hay.charCodeAt(i);
      while (k > 0 && c !== needle.charCodeAt(k)) k = t[k - 1];
      if (c === needle.charCodeAt(k)) k++;
      if (k === m) return i - m + 1;
    }
    return -1;
  }
  // Start of the last match at or before `last`, or -1.
  function findLast(hay, needle, last) {
    const m = needle.length;
    if (m <= LONG_NEEDLE) {
      const span = Math.max(m, Math.floor(GUARD / m));
      for (let end = Math.min(last + m, hay.length); end >= m; end -= span) {
        const start = Math.max(0, end - span - m + 1);
        const at = call(native.lastIndexOf, call(native.slice, hay, start, end), needle);
        if (at !== -1) return start + at;
      }
      return -1;
    }
    const t = prefixTable(needle);
    let found = -1;
    for (let i = 0, k = 0; i < hay.length && i - k <= last; i++) {
      const c = hay.charCodeAt(i);
      while (k > 0 && c !== needle.charCodeAt(k)) k = t[k - 1];
      if (c === needle.charCodeAt(k)) k++;
      if (k === m) {
        if (i - m + 1 <= last) found = i - m + 1;
        k = t[k - 1];
      }
    }
    return found;
  }
  // GetSubstitution for a string pattern: `$$`, `$&`, `` $` `` and `$'` (there are no captures).
  function substitute(hay, matched, at, replacement) {
    if (typeof replacement === 'function') return `${replacement(matched, at, hay)}`;
    return call(native.replace, `${replacement}`, /\$([$&`'])/g, (_, c) =>
      c === '$' ? '$' : c === '&' ? matched : c === '`' ? call(native.slice, hay, 0, at) : call(native.slice, hay, at + matched.length),
    );
  }
  const guards = {
    indexOf(search, position) {
      const hay = coerce(this, 'indexOf');
      const needle = `${search}`;
      if (!costly(hay, needle)) return call(native.indexOf, hay, needle, position);
      return find(hay, needle, clamp(position, hay.length));
    },
    includes(search, position) {
      const hay = coerce(this, 'includes');
      if (isRegExp(search) || !costly(hay, `${search}`)) return call(native.includes, hay, search, position);
      return find(hay, `${search}`, clamp(position, hay.length)) !== -1;
    },
    lastIndexOf(search, position) {
      const hay = coerce(this, 'lastIndexOf');
      const needle = `${search}`;
      if (!costly(hay, needle)) return call(native.lastIndexOf, hay, needle, position);
      const n = Number(position);
      const max = Number.isNaN(n) ? hay.length : clamp(n, hay.length);
      return findLast(hay, needle, max);
    },
    split(separator, limit) {
      const hay = coerce(this, 'split');
      if (typeof separator !== 'string' || !costly(hay, separator)) return call(native.split, hay, separator, limit);
      const lim = limit === undefined ? 2 ** 32 - 1 : limit >>> 0;
      const out = [];
      if (lim === 0) return out;
      let p = 0;
      for (let q = find(hay, separator, 0); q !== -1; q = find(hay, separator, p)) {
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
      const at = find(hay, pattern, 0);
      if (at === -1) return hay;
      return call(native.slice, hay, 0, at) + substitute(hay, pattern, at, replacement) + call(native.slice, hay, at + pattern.length);
    },
    replaceAll(pattern, replacement) {
      const hay = coerce(this, 'replaceAll');
      if (typeof pattern !== 'string' || !costly(hay, pattern)) return call(native.replaceAll, hay, pattern, replacement);
      const positions = [];
      for (let at = find(hay, pattern, 0); at !== -1; at = find(hay, pattern, at + pattern.length)) call(push, positions, at);
      let out = '';
      let end = 0;
      for (const at of positions) {
        out += call(native.slice, hay, end, at) + substitute(hay, pattern, at, replacement);
        end = at + pattern.length;
      }
      return out + call(native.slice, hay, end);
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

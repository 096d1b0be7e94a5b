'use strict';

// The page-script globals for the peers, written in JavaScript inside their sandboxes: the
// cheapest way each peer could offer them (no host call per global, one JSON copy in and one
// out), so the comparison is the peers' best case, not a strawman.
//
// The host sets `__input` (the context as a JSON string) and, for the io workload, `__slow(ms)`
// (an asynchronous host call resolving to a JSON string); it reads the outcome with `__output()`.
const PEER_PRELUDE = `
(function () {
  'use strict';
  const input = JSON.parse(globalThis.__input);
  delete globalThis.__input;
  const copy = (v) => (v === undefined ? null : JSON.parse(JSON.stringify(v)));
  const freeze = (o) => {
    if (o && typeof o === 'object') {
      for (const k of Object.keys(o)) freeze(o[k]);
      Object.freeze(o);
    }
    return o;
  };
  const req = input.request || {};
  const out = {
    action: 'render', status: null, location: null,
    variables: input.variables || {}, session: input.session || {}, sessionChanged: false,
    ended: false,
  };
  const end = new Error('script ended by redirect()');
  globalThis.request = freeze({
    method: req.method || 'GET', url: req.url || '', path: req.path || '',
    query: req.query || {}, params: req.params || {}, headers: req.headers || {},
    cookies: req.cookies || {}, body: req.body === undefined ? null : req.body, ip: req.ip || '',
  });
  globalThis.setVariable = (name, value) => { out.variables[String(name)] = copy(value); };
  globalThis.getVariable = (name) => (name in out.variables ? out.variables[name] : null);
  globalThis.session = Object.freeze({
    get: (k) => (k in out.session ? out.session[k] : null),
    set: (k, v) => { out.session[String(k)] = copy(v); out.sessionChanged = true; },
    delete: (k) => { const had = k in out.session; delete out.session[k]; out.sessionChanged ||= had; return had; },
  });
  globalThis.redirect = (url, status = 302) => {
    out.action = 'redirect'; out.location = String(url); out.status = status; out.ended = true;
    throw end;
  };
  const slow = globalThis.__slow;
  delete globalThis.__slow;
  if (slow) globalThis.slowCall = async (ms) => JSON.parse(await slow(ms));
  Object.defineProperty(globalThis, '__output', { value: () => JSON.stringify(out) });
})();
`;

module.exports = { PEER_PRELUDE };

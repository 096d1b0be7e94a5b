'use strict';

// The playground page: examples, line-numbered editors, and the run. The result's page is shown in
// an iframe with sandbox="" (no scripts, no forms, an origin of its own), never in this document.

const EXAMPLES = {
  'Token check': {
    query: 'token=good-token',
    script: `// Ask the demo's token API, through the egress proxy, whether the token is good.
const token = request.query.token;
if (typeof token !== 'string' || token === '') redirect('/login');
if (!http) throw new Error('this page needs the egress proxy');

const check = http.post(getVariable('validateUrl'), { token });
console.log('token API answered', check.status);
if (check.status === 200) {
  const { user } = JSON.parse(check.body);
  session.set('user', user);
  setVariable('user_name', user.name);
} else {
  response.status(403);
  setVariable('reason', check.error ?? 'That token is not valid.');
}`,
    template: `{% if var.user_name %}
<h1>Welcome, {{ var.user_name }}</h1>
{% else %}
<h1>Access denied</h1>
<p>{{ var.reason }}</p>
{% endif %}`,
  },
  'Visit counter and a cookie': {
    session: '{ "visits": 41 }',
    script: `const visits = (session.get('visits') ?? 0) + 1;
session.set('visits', visits);
setVariable('visits', visits);
cookie.set('last_visit', new Date().toISOString(), { maxAge: 24 * 60 * 60 * 1000 });`,
    template: `<h1>Visit number {{ var.visits }}</h1>`,
  },
  'Redirect when signed out': {
    script: `// Without a user in the session, go and sign in: redirect ends the script at once.
const user = session.get('user');
if (!user) redirect('/login');
setVariable('name', user.name);`,
    template: `<h1>Hello, {{ var.name }}</h1>`,
  },
  'JSON endpoint (POST)': {
    method: 'POST',
    body: '{ "items": [3, 4, 5] }',
    script: `const items = request.body?.items;
if (!Array.isArray(items)) response.status(400).json({ error: 'items must be an array' });
response.json({ count: items.length, total: items.reduce((a, b) => a + b, 0) });`,
    template: '',
  },
  'A script that fails': {
    script: `const order = { id: 7, lines: [] };
console.log('order', order);
// There is no first line: reading .price of undefined throws here.
const first = order.lines[0].price;
setVariable('first', first);`,
    template: `<p>First price: {{ var.first }}</p>`,
  },
  'A blocked destination': {
    script: `// The egress policy keeps scripts off private addresses, such as a cloud's metadata service.
if (!http) throw new Error('this page needs the egress proxy');
const answer = http.get('http://169.254.169.254/latest/meta-data/');
setVariable('status', answer.status);
setVariable('error', answer.error);`,
    template: `<p>Status {{ var.status }}: {{ var.error }}</p>`,
  },
};

const $ = (id) => document.getElementById(id);
const editors = ['script', 'template'];

function numberLines(name) {
  const count = $(name).value.split('\n').length;
  const gutter = $(`${name}-gutter`);
  if (gutter.childElementCount === count) return;
  gutter.replaceChildren(
    ...Array.from({ length: count }, (_, i) => {
      const span = document.createElement('span');
      span.dataset.line = String(i + 1);
      span.textContent = String(i + 1);
      return span;
    }),
  );
  gutter.scrollTop = $(name).scrollTop;
}

function clearMarks() {
  for (const name of editors) for (const span of $(`${name}-gutter`).querySelectorAll('.error')) span.classList.remove('error');
}

/** Marks `line` of an editor, scrolls to it and selects it. */
function markLine(name, line) {
  const textarea = $(name);
  const span = $(`${name}-gutter`).querySelector(`[data-line="${line}"]`);
  if (!span) return;
  span.classList.add('error');
  const lines = textarea.value.split('\n');
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  textarea.setSelectionRange(start, start + lines[line - 1].length);
  textarea.scrollTop = Math.max(0, span.offsetTop - textarea.clientHeight / 2);
  $(`${name}-gutter`).scrollTop = textarea.scrollTop;
}

function loadExample(name) {
  const example = { method: 'GET', query: '', body: '', session: '{}', ...EXAMPLES[name] };
  for (const field of ['method', 'query', 'body', 'session', 'script', 'template']) $(field).value = example[field];
  onMethod();
  clearMarks();
  for (const editor of editors) numberLines(editor);
}

function onMethod() {
  $('body').disabled = $('method').value !== 'POST';
}

function show(id, visible) {
  $(id).hidden = !visible;
}

const pretty = (value) => JSON.stringify(value, null, 2);

/** Reads the form into the run API's input; throws an Error saying which field is wrong. */
function input() {
  const query = {};
  for (const [key, value] of new URLSearchParams($('query').value.replace(/^\?/, ''))) {
    query[key] = key in query ? [query[key]].flat().concat(value) : value;
  }
  const json = (id, what) => {
    const text = $(id).value.trim();
    if (text === '') return undefined;
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new Error(`${what} is not valid JSON: ${error.message}`, { cause: error });
    }
  };
  const method = $('method').value;
  return {
    script: $('script').value,
    template: $('template').value,
    request: { method, query, body: method === 'POST' ? json('body', 'The request body') : undefined },
    session: json('session', 'The session'),
  };
}

function showError(error, logs) {
  show('error', true);
  $('error-code').textContent = error.code;
  $('error-message').textContent = error.message;
  $('error-where').textContent = error.part ? ` at ${error.part} line ${error.line}${error.column ? `, column ${error.column}` : ''}` : '';
  const excerpt = error.part ? $(error.part).value.split('\n')[error.line - 1] : undefined;
  show('error-excerpt', excerpt !== undefined);
  $('error-excerpt').textContent = excerpt === undefined ? '' : `${error.line} | ${excerpt}`;
  if (error.part) markLine(error.part, error.line);
  showLogs(logs ?? []);
}

function showLogs(logs) {
  show('logs-section', logs.length > 0);
  $('logs').replaceChildren(
    ...logs.map(({ level, message }) => {
      const li = document.createElement('li');
      li.className = level;
      li.textContent = `${level}: ${message}`;
      return li;
    }),
  );
}

function showResult(result) {
  const badge = $('status');
  show('status', true);
  badge.textContent = String(result.status);
  badge.className = `badge ${result.status < 400 ? 'good' : 'bad'}`;
  const { durationMs, cpuMs, httpRequests } = result.stats;
  $('stats').textContent =
    `${durationMs.toFixed(1)} ms · ${cpuMs.toFixed(1)} ms of CPU · ${httpRequests} HTTP request${httpRequests === 1 ? '' : 's'}`;

  const location = result.headers.location;
  const html = /^text\/html/.test(result.headers['content-type'] ?? '');
  show('redirect', location !== undefined);
  $('redirect').textContent = location === undefined ? '' : `Redirects to ${location} (${result.status})`;
  show('preview', location === undefined && html);
  $('preview').srcdoc = location === undefined && html ? result.body : '';
  show('raw', location === undefined && !html);
  $('raw').textContent = location === undefined && !html ? result.body : '';

  show('details', true);
  $('headers').textContent = pretty(result.headers);
  $('variables').textContent = pretty(result.variables);
  $('session-out').textContent = pretty(result.session);
  $('session-changed').textContent = result.sessionChanged ? 'changed' : 'unchanged';
  $('cookies').textContent = result.cookies.length ? pretty(result.cookies) : 'none';
  showLogs(result.logs);
}

async function run(event) {
  event?.preventDefault();
  clearMarks();
  for (const id of ['error', 'redirect', 'preview', 'raw', 'details', 'logs-section', 'status', 'idle']) show(id, false);
  $('stats').textContent = '';
  $('run').disabled = true;
  try {
    let answer;
    try {
      const response = await fetch('/playground/run', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(input()),
      });
      answer = await response.json();
    } catch (error) {
      answer = { ok: false, error: { code: 'ERR_PLAYGROUND_INPUT', message: error.message } };
    }
    if (answer.ok) showResult(answer);
    else showError(answer.error, answer.logs);
  } finally {
    $('run').disabled = false;
    document.body.dataset.runs = String(Number(document.body.dataset.runs ?? 0) + 1);
  }
}

for (const name of Object.keys(EXAMPLES)) $('example').append(new Option(name, name));
$('example').addEventListener('change', () => loadExample($('example').value));
$('method').addEventListener('change', onMethod);
$('run-form').addEventListener('submit', run);
for (const name of editors) {
  $(name).addEventListener('input', () => {
    clearMarks();
    numberLines(name);
  });
  $(name).addEventListener('scroll', () => ($(`${name}-gutter`).scrollTop = $(name).scrollTop));
  $(name).addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) run(event);
  });
}
loadExample($('example').value);

import { renderPage, runBackendScript, ScriptError } from 'backend-scripts';

const source = `
  const visits = (session.get('visits') ?? 0) + 1;
  session.set('visits', visits);
  if (request.query.token !== 'abc') redirect('/login');
  setVariable('greeting', 'Hello again, visit ' + visits);
`;
try {
  const result = await runBackendScript(
    source,
    {
      request: { method: 'GET', path: '/welcome', query: { token: 'abc' }, headers: {}, cookies: {} },
      session: { visits: 2 },
      variables: { site_name: 'Example' },
    },
    null, // or a ProxyConfig, for http.get/post
    { cpuTimeMs: 500 },
  );
  if (result.action === 'redirect') console.log(`redirect to ${result.location}`);
  else console.log(result.variables.greeting, result.session);

  const page = await renderPage('<h1>{{ var.site_name }}</h1>', { variables: { site_name: 'Example' } });
  console.log(page.status, page.body);

  await runBackendScript('while (true) {}', null, null, { cpuTimeMs: 50 });
} catch (err) {
  if (!(err instanceof ScriptError)) throw err;
  console.error(`${err.code}: ${err.message}`);
}

// A site's TypeScript, as ESM: what `tsc --strict` must accept (and, at `@ts-expect-error`,
// refuse) in the package's types. Checked by __test__/types.spec.js; never run.
import express from 'express';
import session from 'express-session';
import {
  backendScripts,
  configure,
  createModules,
  executorStats,
  Modules,
  renderPage,
  runBackendScript,
  SCRIPT_ERROR_CODES,
  ScriptError,
  startEgressProxy,
  type PageResult,
  type ScriptErrorCode,
  type ScriptResult,
} from 'backend-scripts';

declare module 'express-session' {
  interface SessionData {
    user: { name: string };
  }
}

// A redirect's location is a string once `action` says so; elsewhere it is null.
function describe(result: ScriptResult): string {
  switch (result.action) {
    case 'redirect':
      return `to ${result.location.toUpperCase()} with ${result.status.toFixed()}`;
    case 'send':
      return `sent ${result.body.length} characters`;
    case 'render':
      // @ts-expect-error: a rendered result has no location
      return result.location.toUpperCase();
  }
}

function answer(page: PageResult): string {
  if (page.action === 'redirect') {
    // @ts-expect-error: a redirect's body is always empty
    const text: 'something' = page.body;
    return page.headers.location + text;
  }
  return page.body;
}

// Every code has a meaning here: the switch must be exhaustive, ERR_PAGE_SESSION_COOKIE included.
function explain(code: ScriptErrorCode): string {
  switch (code) {
    case 'ERR_SCRIPT_SYNTAX':
    case 'ERR_SCRIPT_EXCEPTION':
    case 'ERR_PAGE_TEMPLATE':
      return 'the page is broken';
    case 'ERR_SCRIPT_TIMEOUT':
    case 'ERR_SCRIPT_MEMORY':
    case 'ERR_SCRIPT_OUTPUT_LIMIT':
      return 'the page asked too much';
    case 'ERR_SCRIPT_BUSY':
      return 'try again';
    case 'ERR_PAGE_SESSION_COOKIE':
      return 'the script touched the session cookie';
    case 'ERR_PAGE_RESPONSE':
      return 'the response breaks a rule of HTTP';
    case 'ERR_SCRIPT_MODULE':
      return 'an import names no shared module';
    case 'ERR_SCRIPT_INTERNAL':
      return 'a defect';
    default: {
      const never: never = code;
      return never;
    }
  }
}

async function main(): Promise<void> {
  configure({ maxConcurrency: 2 });
  const proxy = await startEgressProxy({ listen: '127.0.0.1:0', credentials: [{ username: 'site', password: 'secret' }] });
  const proxyConfig = { url: proxy.url, username: 'site', password: 'secret' };
  try {
    console.log(describe(await runBackendScript('redirect("/login")', null, proxyConfig, { cpuTimeMs: 100 })));
    console.log(answer(await renderPage('<p>{{ var.x }}</p>', { variables: { x: 1 } })));
  } catch (err) {
    if (err instanceof ScriptError) {
      const code: ScriptErrorCode = err.code;
      console.log(
        explain(code),
        err.line ?? 0,
        err.column ?? 0,
        err.logs.map((l) => l.message),
      );
    }
    // @ts-expect-error: an unknown error has no code until it is narrowed
    console.log(err.code);
  }
  // Shared modules and host functions.
  const modules: Modules = await createModules({ validators: 'export const isEmail = (s) => s.includes("@");' });
  const names: string[] = modules.names;
  const withImports = await runBackendScript("import { isEmail } from 'validators'; setVariable('v', getOrders('newest', 2))", null, null, {
    modules,
    functions: { getOrders: async (sortBy: string, limit: number) => [sortBy, limit], now: () => Date.now() },
    maxHostCalls: 10,
    hostCallTimeoutMs: 1000,
  });
  console.log(
    names,
    withImports.stats.hostWaitMs,
    withImports.stats.hostCalls.map((c) => `${c.name} ${c.durationMs} ${c.error ?? 'ok'}`),
  );
  // @ts-expect-error: options.modules is a set made by createModules, not its sources
  await runBackendScript('', null, null, { modules: { validators: '' } });
  const codes: readonly ScriptErrorCode[] = SCRIPT_ERROR_CODES;
  console.log(codes, executorStats().running);

  const app = express();
  app.use(session({ secret: 'secret', resave: false, saveUninitialized: false }));
  app.use(
    backendScripts({
      root: 'pages',
      proxy: proxyConfig,
      // Express's own types: req.query, and req.session as express-session declares it.
      variables: (req, res) => ({ user_name: req.session.user?.name ?? null, path: req.path, locals: Object.keys(res.locals) }),
      onLogs: (logs, { page, req }) => console.log(page, req.ip, logs.length),
      modules: 'pages/_modules',
      // A function of the request, so that a host function can see the visitor.
      functions: (req) => ({ whoAmI: () => req.session.user?.name ?? null }),
    }),
  );
  app.use((err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (err instanceof ScriptError) res.status(err.status ?? 500).send(explain(err.code));
    else next(err);
  });
  await proxy.close();
}

void main();

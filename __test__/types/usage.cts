// The same package from CommonJS TypeScript (`require` under `module: nodenext`). Checked by
// __test__/types.spec.js; never run.
import express = require('express');
import backend = require('backend-scripts');

const { backendScripts, runBackendScript, ScriptError } = backend;

async function check(source: string): Promise<string> {
  try {
    const result: backend.ScriptResult = await runBackendScript(source);
    if (result.action === 'redirect') return result.location;
    if (result.action === 'send') return result.body;
    // @ts-expect-error: a rendered result has no body
    return result.body.trim();
  } catch (err) {
    if (err instanceof ScriptError) return `${err.code} at ${err.line ?? '?'}:${err.column ?? '?'}`;
    throw err;
  }
}

const app = express();
app.use(backendScripts({ root: 'pages', variables: (req) => ({ path: req.path }) }));
// @ts-expect-error: root is required
backendScripts({});
void check('response.send("hi")');

'use strict';

// The demo and its playground in a real browser: headless Chromium against `npm run demo`, clicking
// and typing as a visitor would. Screenshots of each step land in test-artifacts/screenshots/.
const { startDemo } = require('./support/demo');
const { launchBrowser, screenshot } = require('./support/browser');

// Starting Chromium and the demo takes a few seconds on a busy machine.
jest.setTimeout(60000);

let demo;
let browser;
let page;

beforeAll(async () => {
  [demo, browser] = await Promise.all([startDemo(), launchBrowser()]);
});

afterAll(async () => {
  await Promise.all([browser?.close(), demo?.stop()]);
});

beforeEach(async () => {
  // Every test starts signed out, in a tab of its own.
  await browser.context.clearCookies();
  page = await browser.context.newPage();
});

afterEach(async () => {
  await page.close();
});

const url = (path) => `${demo.url}${path}`;
const text = (selector) => page.locator(selector).innerText();

describe('the demo in a browser', () => {
  it('signs in with the token from the login page, and every page knows the visitor after', async () => {
    await page.goto(url('/'));
    expect(await text('h1')).toBe('Hello, visitor');
    expect(await text('#js')).toBe('Browser scripts are served as they are.');
    await page.getByRole('link', { name: 'Sign in with a token' }).click();
    await page.waitForURL(url('/login'));
    await screenshot(page, 'demo-login');

    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(url('/welcome?token=good-token'));
    expect(await text('h1')).toBe('Welcome, Ada');
    await screenshot(page, 'demo-welcome');

    await page.getByRole('link', { name: 'see your account' }).click();
    await page.waitForURL(url('/account'));
    expect(await text('main')).toContain('Signed in as Ada.');

    await page.goto(url('/'));
    expect(await text('h1')).toBe('Hello, Ada');
    expect(await text('main')).toContain('You are signed in.');
    expect(await text('main')).not.toContain('visitor');
    await screenshot(page, 'demo-home-signed-in');

    await page.goto(url('/account'));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(url('/'));
    expect(await text('h1')).toBe('Hello, visitor');
  });

  it('refuses a bad token with a 403 page that says why', async () => {
    await page.goto(url('/login'));
    await page.getByLabel('Token').fill('bad-token');
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/welcome')),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    expect(answer.status()).toBe(403);
    expect(await text('h1')).toBe('Access denied');
    expect(await text('main')).toContain('That token is not valid.');
    await screenshot(page, 'demo-welcome-bad-token');
    await page.goto(url('/account'));
    expect(page.url()).toBe(url('/login'));
  });

  it('sends a visitor without a token to the login page', async () => {
    const answer = await page.goto(url('/welcome'));
    expect(answer.request().redirectedFrom()?.url()).toBe(url('/welcome'));
    expect(page.url()).toBe(url('/login'));
    expect(await text('h1')).toBe('Sign in');
  });

  it('shows the previous visit as a date', async () => {
    await page.goto(url('/visits'));
    expect(await text('main')).toContain('This is your first visit.');
    await page.getByRole('link', { name: 'Count again' }).click();
    await page.locator('h1', { hasText: 'Visit number 2' }).waitFor();
    expect(await text('main')).toMatch(/Your previous visit was on \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC\./);
    await screenshot(page, 'demo-visits');
  });
});

describe('the playground in a browser', () => {
  /** Chooses an example (or keeps the one shown) and runs it; resolves once the result is shown. */
  async function run(example) {
    if (example) await page.selectOption('#example', example);
    const runs = Number((await page.locator('body').getAttribute('data-runs')) ?? 0);
    await page.getByRole('button', { name: 'Run' }).click();
    await page.waitForSelector(`body[data-runs="${runs + 1}"]`);
  }
  const preview = () => page.frameLocator('#preview');

  beforeEach(async () => {
    await page.goto(url('/playground'));
  });

  it('runs the token check and shows the page, the variables, the session, the logs and the stats', async () => {
    await run();
    expect(await text('#status')).toBe('200');
    expect(await preview().locator('h1').innerText()).toBe('Welcome, Ada');
    expect(JSON.parse(await text('#variables'))).toMatchObject({ user_name: 'Ada' });
    expect(JSON.parse(await text('#session-out'))).toEqual({ user: { name: 'Ada' } });
    expect(await text('#session-changed')).toBe('changed');
    expect(await text('#logs')).toContain('log: token API answered 200');
    expect(await text('#stats')).toMatch(/ms of CPU · 1 HTTP request$/);
    expect(await page.locator('#error').isHidden()).toBe(true);
    // The rendered page has an origin of its own: the playground cannot reach into it, nor it out.
    expect(await page.locator('#preview').getAttribute('sandbox')).toBe('');
    expect(await page.locator('#preview').evaluate((frame) => frame.contentDocument)).toBeNull();
    await screenshot(page, 'playground-token-check');

    // The visitor's own session is not the playground's.
    await page.goto(url('/account'));
    expect(page.url()).toBe(url('/login'));
  });

  it('marks the line of the script that failed, and its logs', async () => {
    await run('A script that fails');
    expect(await text('#error-code')).toBe('ERR_SCRIPT_EXCEPTION');
    expect(await text('#error-where')).toBe('at script line 4, column 15');
    expect(await text('#error-message')).toContain("cannot read property 'price' of undefined");
    expect(await text('#error-excerpt')).toBe('4 | const first = order.lines[0].price;');
    expect(await page.locator('#script-gutter .error').allInnerTexts()).toEqual(['4']);
    expect(await text('#logs')).toContain('log: order {"id":7,"lines":[]}');
    expect(await page.locator('#preview').isHidden()).toBe(true);
    await screenshot(page, 'playground-script-error');

    // Editing the script clears the mark.
    await page.locator('#script').press('End');
    await page.locator('#script').pressSequentially(' ');
    expect(await page.locator('#script-gutter .error').count()).toBe(0);
  });

  it('marks the line of the template that failed', async () => {
    await page.locator('#template').fill('<h1>Total</h1>\n<p>{{ var.total | no_such_filter }}</p>');
    await run();
    expect(await text('#error-code')).toBe('ERR_PAGE_TEMPLATE');
    expect(await page.locator('#template-gutter .error').allInnerTexts()).toEqual(['2']);
    expect(await page.locator('#script-gutter .error').count()).toBe(0);
  });

  it('shows where a redirect goes, and renders once the session has a user', async () => {
    await run('Redirect when signed out');
    expect(await text('#status')).toBe('302');
    expect(await text('#redirect')).toBe('Redirects to /login (302)');
    expect(await page.locator('#preview').isHidden()).toBe(true);
    expect(JSON.parse(await text('#headers'))).toMatchObject({ location: '/login' });
    await screenshot(page, 'playground-redirect');

    await page.locator('#session').fill('{ "user": { "name": "Grace" } }');
    await run();
    expect(await text('#status')).toBe('200');
    expect(await preview().locator('h1').innerText()).toBe('Hello, Grace');
    expect(await text('#session-changed')).toBe('unchanged');
  });

  it('sends a POST body to a JSON endpoint and shows the JSON it answers', async () => {
    await run('JSON endpoint (POST)');
    expect(await text('#status')).toBe('200');
    expect(JSON.parse(await text('#raw'))).toEqual({ count: 3, total: 12 });
    expect(JSON.parse(await text('#headers'))).toEqual({ 'content-type': 'application/json; charset=utf-8' });
  });

  it('runs what the visitor types, with Ctrl+Enter, and keeps the page it renders inert', async () => {
    await page.locator('#script').fill(`setVariable('who', request.query.who);`);
    await page
      .locator('#template')
      .fill(
        `<p id="who">{{ var.who }}</p><p id="x">static</p>\n<script>document.getElementById('x').textContent = 'ran'; parent.document.title = 'taken';</script>`,
      );
    await page.locator('#query').fill('who=<b>Eve</b>');
    await page.locator('#script').press('Control+Enter');
    await page.waitForSelector('body[data-runs="1"]');
    expect(await preview().locator('#who').innerText()).toBe('<b>Eve</b>');
    expect(await preview().locator('#x').innerText()).toBe('static');
    expect(await page.title()).toBe('Playground · backend-scripts demo');
  });

  it('says what is wrong with the input before anything runs', async () => {
    await page.locator('#session').fill('{ not json');
    await run();
    expect(await text('#error-code')).toBe('ERR_PLAYGROUND_INPUT');
    expect(await text('#error-message')).toContain('The session is not valid JSON');

    await page.locator('#session').fill('{}');
    await page.locator('#script').fill(`setVariable('html', '</script>');`);
    await run();
    expect(await text('#error-code')).toBe('ERR_PLAYGROUND_INPUT');
    expect(await text('#error-message')).toContain('script must not contain "</script"');
  });
});

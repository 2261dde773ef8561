// Click-through browser tests of the VNeID login flow: demo portal → gateway → simulated national
// broker (password + OTP, or QR approved on the simulated phone) → back to the demo portal.
//
// Runs Debian's Chromium through playwright-core (no browser download):
//   apt-get install chromium && cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci && node --test
// Env: GATEWAY_BIN (gateway binary), CHROMIUM (browser binary), SCREENSHOT_DIR (PNG output).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const PASSWORD = 'matkhau123';
const LEVEL2 = { id: '052090000123', name: 'Nguyễn Văn An' };
const LEVEL1 = { id: '052195004567', name: 'Trần Thị Bình' };
const OFFICER = { id: '052085007890', name: 'Lê Văn Cường' };
const STEP_TIMEOUT = 20_000;

const SCREENSHOT_DIR = resolve(process.env.SCREENSHOT_DIR || join(HERE, 'screenshots'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

function gatewayBinary() {
  if (process.env.GATEWAY_BIN) return process.env.GATEWAY_BIN;
  const cached = '/root/.cache/vneid-gateway/target/debug/gateway';
  if (existsSync(cached)) return cached;
  return join(REPO, 'target', 'debug', 'gateway');
}

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let gateway; // { proc, dir, base, output() }
let browser;

async function startGateway() {
  const bin = gatewayBinary();
  assert.ok(existsSync(bin), `gateway binary not found at ${bin}; build it or set GATEWAY_BIN`);
  const dir = mkdtempSync(join(tmpdir(), 'vneid-browser-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let out = '';
  const proc = spawn(bin, ['serve'], {
    cwd: dir,
    env: { ...process.env, GATEWAY__SERVER__BIND: `127.0.0.1:${port}`, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  let exited = null;
  proc.on('exit', (code, signal) => (exited = { code, signal }));
  // Never leave the gateway behind, even if the runner dies before the after() hook.
  process.once('exit', () => exited || proc.kill('SIGKILL'));
  const started = Date.now();
  for (;;) {
    if (exited) {
      throw new Error(`gateway exited early (${JSON.stringify(exited)}):\n${out}`);
    }
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() - started > 60_000) {
      proc.kill('SIGKILL');
      throw new Error(`gateway did not become healthy in 60 s:\n${out}`);
    }
    await sleep(100);
  }
  // The banner printed on stdout names the demo URL; wait briefly for it and check it.
  for (let i = 0; i < 50 && !out.includes('Demo portal:'); i++) await sleep(20);
  assert.match(out, new RegExp(`Demo portal:\\s+${base.replace(/[.]/g, '\\.')}/demo`));
  return { proc, dir, base, output: () => out, exited: () => exited };
}

async function stopGateway(gw) {
  if (!gw) return;
  if (!gw.exited()) {
    const done = new Promise((r) => gw.proc.once('exit', r));
    gw.proc.kill('SIGTERM');
    const timedOut = await Promise.race([done.then(() => false), sleep(5_000).then(() => true)]);
    if (timedOut) {
      gw.proc.kill('SIGKILL');
      await done;
    }
  }
  rmSync(gw.dir, { recursive: true, force: true });
}

before(async () => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  gateway = await startGateway();
  // launch() gives every run a fresh temporary user data dir, deleted on close.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
});

after(async () => {
  await browser?.close();
  await stopGateway(gateway);
});

// ---------------------------------------------------------------------------------------------
// Console errors, uncaught exceptions and CSP violations, per browser context.

/** Watches every page of a context; `problems()` lists what should not have happened. */
function watch(context) {
  const problems = [];
  const notes = [];
  // Documents answered with an error status on purpose (the refusal page is 403, the demo's error
  // page 502): Chromium logs "Failed to load resource" for those; they are not page defects.
  const documents = new Set();
  context.on('page', (page) => attach(page));
  for (const page of context.pages()) attach(page);

  function attach(page) {
    page.on('response', (res) => {
      const req = res.request();
      if (req.isNavigationRequest() && req.frame() === page.mainFrame()) documents.add(res.url());
    });
    page.on('pageerror', (err) => problems.push(`pageerror on ${page.url()}: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = msg.text();
      const url = msg.location()?.url || '';
      if (text.startsWith('Failed to load resource')) {
        if (documents.has(url)) return;
      }
      problems.push(`console error on ${page.url()}: ${text}${url ? ` (${url})` : ''}`);
    });
  }

  return {
    problems,
    notes,
    // Also catch violations from inside the page, in case the console message is ever dropped.
    async install() {
      await context.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) => {
          console.error(
            `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`,
          );
        });
      });
    },
  };
}

async function newWatchedContext() {
  const context = await browser.newContext({ locale: 'vi-VN', viewport: { width: 1100, height: 800 } });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const w = watch(context);
  await w.install();
  return { context, w };
}

async function finish(t, context, w) {
  for (const n of w.notes) t.diagnostic(n);
  await context.close();
  assert.deepEqual(w.problems, [], 'pages logged errors or CSP violations');
}

async function shot(page, name) {
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

async function lang(page) {
  return page.evaluate(() => document.documentElement.getAttribute('lang'));
}

// ---------------------------------------------------------------------------------------------
// Steps a person takes.

/** /demo → "Đăng nhập bằng VNeID" → the simulator's VNeID login page. */
async function openVneidLogin(page, screenshotPrefix) {
  await page.goto(`${gateway.base}/demo`);
  await page.getByRole('heading', { name: 'Cổng dịch vụ công thử nghiệm' }).waitFor();
  if (screenshotPrefix) await shot(page, `${screenshotPrefix}-demo-start`);
  await page.getByRole('link', { name: 'Đăng nhập bằng VNeID' }).click();
  await page.getByRole('heading', { name: 'Đăng nhập VNeID' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/simulator/oauth2/authorize');
  assert.equal(await lang(page), 'vi', 'VNeID login page lang');
}

async function submitPassword(page, personalId) {
  await page.locator('input[name="personal_id"]').fill(personalId);
  await page.locator('input[name="password"]').fill(PASSWORD);
  await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();
  await page.locator('input[name="otp"]').waitFor();
  await page.getByRole('heading', { name: 'Xác thực OTP' }).waitFor();
}

/** Reads the newest OTP sent to `personalId` from the simulated phone, opened in a second tab. */
async function otpFromPhone(context, personalId, screenshotName) {
  const phone = await context.newPage();
  try {
    await phone.goto(`${gateway.base}/simulator/phone`);
    await phone.getByRole('heading', { name: 'Điện thoại giả lập' }).waitFor();
    const row = phone.locator('tr', { has: phone.locator('td', { hasText: personalId }) }).first();
    const otp = (await row.locator('td.otp').innerText()).trim();
    assert.match(otp, /^\d{6}$/, 'OTP on the phone page');
    if (screenshotName) await shot(phone, screenshotName);
    return otp;
  } finally {
    await phone.close();
  }
}

async function submitOtp(page, otp) {
  await page.locator('input[name="otp"]').fill(otp);
  await page.getByRole('button', { name: 'Nhập', exact: true }).click();
}

/** Value cell of a claim row on the demo's claims page (first table that has it: the ID token). */
function claim(page, name) {
  return page.locator('tr', { has: page.locator('th', { hasText: new RegExp(`^${name}$`) }) }).first().locator('td');
}

// ---------------------------------------------------------------------------------------------

test('level-2 citizen logs in with password and OTP', async (t) => {
  const { context, w } = await newWatchedContext();
  const page = await context.newPage();

  await openVneidLogin(page, '01');
  await shot(page, '02-vneid-login');
  await submitPassword(page, LEVEL2.id);
  assert.equal(await lang(page), 'vi', 'OTP page lang');
  await shot(page, '03-otp');

  const otp = await otpFromPhone(context, LEVEL2.id, '04-phone-otp');
  await submitOtp(page, otp);

  await page.waitForURL((u) => u.pathname === '/demo/callback');
  const body = page.locator('body');
  await body.getByText('Đăng nhập thành công').first().waitFor();
  assert.match(await body.innerText(), new RegExp(LEVEL2.name));
  await page.getByRole('heading', { name: `Xin chào, ${LEVEL2.name}!` }).waitFor();
  assert.equal((await claim(page, 'acr').innerText()).trim(), 'urn:vneid:loa:2');
  assert.equal((await claim(page, 'personal_id').innerText()).trim(), LEVEL2.id);
  assert.equal((await claim(page, 'name').innerText()).trim(), LEVEL2.name);
  await shot(page, '05-claims');

  await finish(t, context, w);
});

test('QR code approved on the phone logs the ward officer in without typing', async (t) => {
  const { context, w } = await newWatchedContext();
  const page = await context.newPage();

  await openVneidLogin(page);
  const qr = page.locator('#qr svg');
  await qr.waitFor({ state: 'visible' });
  const ref = (await page.locator('#qr-ref').innerText()).trim();
  assert.ok(ref.length > 0, 'QR reference shown under the code');
  await shot(page, '06-qr-login');

  const phone = await context.newPage();
  await phone.goto(`${gateway.base}/simulator/phone`);
  const form = phone.locator('form', { has: phone.locator(`input[name="request"][value="${ref}"]`) });
  await form.waitFor();
  await form.locator('select[name="personal_id"]').selectOption(OFFICER.id);
  await shot(phone, '07-phone-qr');
  await form.getByRole('button', { name: 'Xác nhận đăng nhập' }).click();
  await phone.waitForLoadState('load');

  // The login page polls the simulator and continues by itself.
  await page.waitForURL((u) => u.pathname === '/demo/callback', { timeout: 30_000 });
  await page.getByText('Đăng nhập thành công').first().waitFor();
  await page.getByRole('heading', { name: `Xin chào, ${OFFICER.name}!` }).waitFor();
  assert.equal((await claim(page, 'personal_id').innerText()).trim(), OFFICER.id);
  assert.equal((await claim(page, 'acr').innerText()).trim(), 'urn:vneid:loa:2');
  await shot(page, '08-qr-claims');

  await finish(t, context, w);
});

test('level-1 citizen is refused and can go back to the portal', async (t) => {
  const { context, w } = await newWatchedContext();
  const page = await context.newPage();

  await openVneidLogin(page);
  await submitPassword(page, LEVEL1.id);
  const otp = await otpFromPhone(context, LEVEL1.id);
  await submitOtp(page, otp);

  await page.getByRole('heading', { name: 'Không thể đăng nhập' }).waitFor();
  const text = await page.locator('body').innerText();
  assert.match(text, /Không thể đăng nhập/);
  assert.match(text, /mức độ 2/);
  assert.equal(await lang(page), 'vi', 'refusal page lang');
  await shot(page, '09-refusal');

  const back = page.getByRole('link', { name: /^Quay lại/ });
  const href = await back.getAttribute('href');
  assert.equal(new URL(href).searchParams.get('error'), 'access_denied');
  await back.click();
  await page.waitForURL((u) => u.pathname === '/demo/callback');
  assert.equal(new URL(page.url()).searchParams.get('error'), 'access_denied');
  await page.getByText('access_denied').first().waitFor();
  await shot(page, '10-demo-access-denied');

  await finish(t, context, w);
});

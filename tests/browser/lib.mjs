// Shared by the browser tests: the gateway process, Debian's Chromium, per-context checks for
// console errors and CSP violations, screenshots, and the steps a person takes on the simulated
// VNeID login pages (password, OTP read from the simulated phone).
//
// Env: GATEWAY_BIN (gateway binary), CHROMIUM (browser binary), SCREENSHOT_DIR (PNG output).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, '..', '..');
/** Every simulated person's password. */
export const PASSWORD = 'matkhau123';
/** People of the simulator's built-in fixture. */
export const LEVEL2 = { id: '052090000123', name: 'Nguyễn Văn An' };
export const LEVEL1 = { id: '052195004567', name: 'Trần Thị Bình' };
export const OFFICER = { id: '052085007890', name: 'Lê Văn Cường' };
export const STEP_TIMEOUT = 20_000;

export const SCREENSHOT_DIR = resolve(process.env.SCREENSHOT_DIR || join(HERE, 'screenshots'));
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

/** GATEWAY_BIN (.ci/run sets it), or the binary scripts/gateway-bin.sh builds from this checkout. */
export function gatewayBinary() {
  process.env.GATEWAY_BIN ??= execFileSync(join(REPO, 'scripts', 'gateway-bin.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return process.env.GATEWAY_BIN;
}

export function freePort() {
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A fresh temporary directory for one gateway (removed by stopGateway). */
export function tempDir() {
  return mkdtempSync(join(tmpdir(), 'vneid-browser-'));
}

/**
 * Starts `gateway ARGS…` in `dir` (default: a fresh temporary directory) and waits until
 * `/healthz` on 127.0.0.1:`port` answers. The caller makes the gateway listen on that port
 * (environment or configuration file). Returns { proc, dir, base, output(), exited() }.
 */
export async function startGateway({ port, args, env = {}, dir }) {
  const bin = gatewayBinary();
  assert.ok(existsSync(bin), `GATEWAY_BIN=${bin} does not exist`);
  dir ??= tempDir();
  const base = `http://127.0.0.1:${port}`;
  let out = '';
  const proc = spawn(bin, args, {
    cwd: dir,
    env: { ...process.env, RUST_LOG: 'warn', ...env },
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
  return { proc, dir, base, output: () => out, exited: () => exited };
}

/** Waits for `text` on the gateway's stdout/stderr (the banner follows readiness); throws after
 * 60 s, which only a gateway that never prints it reaches. */
export async function waitForOutput(gw, text) {
  const started = Date.now();
  while (!gw.output().includes(text)) {
    if (gw.exited() || Date.now() - started > 60_000) {
      throw new Error(`the gateway never printed ${JSON.stringify(text)}:\n${gw.output()}`);
    }
    await sleep(20);
  }
}

export async function stopGateway(gw) {
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

/** Debian's Chromium. launch() gives every run a fresh temporary user data dir, deleted on close. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

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

/** A fresh context (no cookies), Vietnamese locale, watched for errors. */
export async function newWatchedContext(browser) {
  const context = await browser.newContext({ locale: 'vi-VN', viewport: { width: 1100, height: 800 } });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const w = watch(context);
  await w.install();
  return { context, w };
}

export async function finish(t, context, w) {
  for (const n of w.notes) t.diagnostic(n);
  await context.close();
  assert.deepEqual(w.problems, [], 'pages logged errors or CSP violations');
}

export async function shot(page, name) {
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

export async function lang(page) {
  return page.evaluate(() => document.documentElement.getAttribute('lang'));
}

// ---------------------------------------------------------------------------------------------
// Steps a person takes on the simulated VNeID pages.

export async function submitPassword(page, personalId) {
  await page.locator('input[name="personal_id"]').fill(personalId);
  await page.locator('input[name="password"]').fill(PASSWORD);
  await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();
  await page.locator('input[name="otp"]').waitFor();
  await page.getByRole('heading', { name: 'Xác thực OTP' }).waitFor();
}

/** Reads the newest OTP sent to `personalId` from the simulated phone, opened in a second tab. */
export async function otpFromPhone(context, base, personalId, screenshotName) {
  const phone = await context.newPage();
  try {
    await phone.goto(`${base}/simulator/phone`);
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

export async function submitOtp(page, otp) {
  await page.locator('input[name="otp"]').fill(otp);
  await page.getByRole('button', { name: 'Nhập', exact: true }).click();
}

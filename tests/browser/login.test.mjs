// Click-through browser tests of the VNeID login flow: demo portal → gateway → simulated national
// broker (password + OTP, or QR approved on the simulated phone) → back to the demo portal.
//
// Runs Debian's Chromium through playwright-core (no browser download):
//   apt-get install chromium && cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci && node --test
// Env: GATEWAY_BIN (gateway binary), CHROMIUM (browser binary), SCREENSHOT_DIR (PNG output).
// Shared helpers (gateway process, browser, error watching, VNeID steps): lib.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import {
  LEVEL1,
  LEVEL2,
  OFFICER,
  SCREENSHOT_DIR,
  finish,
  freePort,
  lang,
  launchBrowser,
  newWatchedContext,
  otpFromPhone,
  shot,
  startGateway,
  stopGateway,
  submitOtp,
  submitPassword,
  waitForOutput,
} from './lib.mjs';

let gateway; // { proc, dir, base, output(), exited() }
let browser;

before(async () => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // The embedded default (no --config), listening on a free port.
  const port = await freePort();
  gateway = await startGateway({
    port,
    args: ['serve'],
    env: { GATEWAY__SERVER__BIND: `127.0.0.1:${port}` },
  });
  // The banner printed on stdout names the demo URL; wait briefly for it and check it.
  await waitForOutput(gateway, 'Demo portal:');
  assert.match(gateway.output(), new RegExp(`Demo portal:\\s+${gateway.base.replace(/[.]/g, '\\.')}/demo`));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopGateway(gateway);
});

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

/** Value cell of a claim row on the demo's claims page (first table that has it: the ID token). */
function claim(page, name) {
  return page.locator(`tr[data-claim="${name}"]`).first().locator('td');
}

// ---------------------------------------------------------------------------------------------

test('level-2 citizen logs in with password and OTP', async (t) => {
  const { context, w } = await newWatchedContext(browser);
  const page = await context.newPage();

  await openVneidLogin(page, '01');
  await shot(page, '02-vneid-login');
  await submitPassword(page, LEVEL2.id);
  assert.equal(await lang(page), 'vi', 'OTP page lang');
  await shot(page, '03-otp');

  const otp = await otpFromPhone(context, gateway.base, LEVEL2.id, '04-phone-otp');
  await submitOtp(page, otp);

  await page.waitForURL((u) => u.pathname === '/demo/callback');
  const body = page.locator('body');
  await body.getByText('Đăng nhập thành công').first().waitFor();
  assert.match(await body.innerText(), new RegExp(LEVEL2.name));
  await page.getByRole('heading', { name: `Xin chào, ${LEVEL2.name}!` }).waitFor();
  assert.equal((await claim(page, 'acr').innerText()).trim(), 'Mức độ 2 (urn:vneid:loa:2)');
  assert.equal((await claim(page, 'personal_id').innerText()).trim(), LEVEL2.id);
  assert.equal((await claim(page, 'name').innerText()).trim(), LEVEL2.name);
  assert.match((await claim(page, 'auth_time').innerText()).trim(), /^\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d \(giờ Việt Nam\)$/);
  await shot(page, '05-claims');

  // RP-initiated logout from the portal: back at its first page.
  await page.getByRole('button', { name: 'Đăng xuất' }).click();
  await page.waitForURL((u) => u.pathname === '/demo');
  await page.getByRole('heading', { name: 'Cổng dịch vụ công thử nghiệm' }).waitFor();

  await finish(t, context, w);
});

test('QR code approved on the phone logs the ward officer in without typing', async (t) => {
  const { context, w } = await newWatchedContext(browser);
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
  assert.equal((await claim(page, 'acr').innerText()).trim(), 'Mức độ 2 (urn:vneid:loa:2)');
  await shot(page, '08-qr-claims');

  await finish(t, context, w);
});

test('level-1 citizen is refused and can go back to the portal', async (t) => {
  const { context, w } = await newWatchedContext(browser);
  const page = await context.newPage();

  await openVneidLogin(page);
  await submitPassword(page, LEVEL1.id);
  const otp = await otpFromPhone(context, gateway.base, LEVEL1.id);
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

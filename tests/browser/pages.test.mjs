// Every page a person can meet, on a 390 px phone and on a 1100 px desktop: no page is wider than
// the window (wide tables scroll inside their card), and every page of the gateway — the login
// choice, the refusals and errors (403 level too low, 404, 503 broker down, bad request), the demo
// portal's pages, the IT centre's console (its login, its 403, the report), a protected app's
// pages under /.vneid (bad rd, logout question and answer, login refused) — shows the branding of
// `[branding]`: organisation, service name, logo, support contact. The simulated VNeID pages
// (password, OTP, QR, the phone) stand in for the national broker's: they are checked for width
// only. Screenshots of every page at both widths: SCREENSHOT_DIR/pages-NN-<page>-<width>.png.
//
// The gateway runs from a configuration file (fixture.mjs) with the demo portal and two
// upstreams: the simulator, and a national broker nobody answers for (the login choice page
// offers both; choosing the second gives the 503 page).
//
// Runs Debian's Chromium through playwright-core (no browser download):
//   apt-get install chromium && cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci && node --test
// Env: GATEWAY_BIN (gateway binary), CHROMIUM (browser binary), SCREENSHOT_DIR (PNG output).

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
  shot,
  startGateway,
  stopGateway,
  submitOtp,
  submitPassword,
  tempDir,
  waitForOutput,
} from './lib.mjs';
import { DIRECTORY, adminToken, assertBranded, importDirectory, writeConfig } from './fixture.mjs';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1100, height: 800 };
const SIMULATOR_CHOICE = 'Tài khoản định danh điện tử VNeID (giả lập)';
const DOWN_CHOICE = 'Tài khoản Cổng Dịch vụ công quốc gia (đang gián đoạn)';
const CONSOLE_TITLE = 'Mức độ sẵn sàng đăng nhập bằng VNeID';
// A legacy app behind forward-auth whose url is the gateway's own address: its pages under
// /.vneid are the gateway's.
const APP_NAME = 'Hệ thống Một cửa (bản cũ)';

let gateway; // { proc, dir, base, output(), exited() }
let browser;

before(async () => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const dir = tempDir();
  const port = await freePort();
  const closed = await freePort(); // nothing listens there: the broker is down
  writeConfig(
    dir,
    port,
    `
[demo]
enabled = true

[[protected_apps]]
id = "motcua-legacy"
name = "${APP_NAME}"
url = "http://127.0.0.1:${port}"
min_level = 2
claims = ["name"]

[[upstreams]]
id = "vneid"
issuer = "http://127.0.0.1:${port}/simulator"
client_id = "gateway"
client_secret = "simulator-secret-0123456789-abcdefghij"
display_name = "${SIMULATOR_CHOICE}"

[[upstreams]]
id = "dvcqg"
issuer = "http://127.0.0.1:${closed}"
client_id = "gateway-dvcqg"
client_secret = "broker-secret-0123456789-abcdefghijkl"
display_name = "${DOWN_CHOICE}"
`,
  );
  gateway = await startGateway({ dir, port, args: ['serve', '--config', 'gateway.toml'] });
  await waitForOutput(gateway, 'vneid-gateway is running at');
  const report = await importDirectory(gateway.base, await adminToken(gateway.base), DIRECTORY);
  assert.equal(report.written, true);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopGateway(gateway);
});

// ---------------------------------------------------------------------------------------------

/** How many pages were checked: screenshots are numbered in that order. */
let checked = 0;

/** The window's and the body's width of what is shown now. */
function widths(page) {
  return page.evaluate(() => ({
    html: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
  }));
}

/**
 * The page shown now, at 390 px then at 1100 px: no wider than the window, in Vietnamese, the
 * branding (and no inline style) on the gateway's own pages, a full-page screenshot at each
 * width. Leaves it at 390 px.
 */
async function check(page, name, { branded = true } = {}) {
  checked += 1;
  assert.equal(await lang(page), 'vi', `${name}: lang`);
  if (branded) {
    // The gateway's pages style through the layout's stylesheet only (ARCHITECTURE.md, "A page").
    assert.equal(await page.locator('[style]').count(), 0, `${name}: inline style attributes`);
  }
  const prefix = `pages-${String(checked).padStart(2, '0')}-${name}`;
  for (const size of [PHONE, DESKTOP]) {
    await page.setViewportSize(size);
    const w = await widths(page);
    assert.ok(
      w.html <= size.width && w.body <= size.width,
      `${name} at ${size.width} px is wider than the window: ${JSON.stringify(w)}`,
    );
    if (branded) await assertBranded(page, `${name} at ${size.width} px`);
    await shot(page, `${prefix}-${size.width}`);
  }
  await page.setViewportSize(PHONE);
}

/** Navigates with `go()` and resolves with the status of the document it lands on (after redirects). */
async function landing(page, go) {
  const doc = page.waitForResponse(
    (r) =>
      r.request().isNavigationRequest() &&
      r.request().frame() === page.mainFrame() &&
      (r.status() < 300 || r.status() >= 400),
  );
  await go();
  return (await doc).status();
}

/** The wide tables of the page scroll inside their box, which stays inside `main`. */
async function tablesScrollInside(page, name) {
  const boxes = await page.locator('main .scroll').evaluateAll((els) =>
    els.map((el) => {
      const main = el.closest('main').getBoundingClientRect();
      const r = el.getBoundingClientRect();
      return { inside: r.left >= main.left && r.right <= main.right, scrolls: el.scrollWidth > el.clientWidth };
    }),
  );
  assert.ok(boxes.length > 0, `${name}: tables in .scroll boxes`);
  for (const b of boxes) assert.ok(b.inside, `${name}: a table's box sticks out of the card`);
  return boxes.some((b) => b.scrolls);
}

/** The OTP sent to `personalId`, read on the simulated phone (a second tab, also at 390 px). */
async function phoneOtp(context, personalId, name) {
  const phone = await context.newPage();
  try {
    await phone.setViewportSize(PHONE);
    await phone.goto(`${gateway.base}/simulator/phone`);
    await phone.getByRole('heading', { name: 'Điện thoại giả lập' }).waitFor();
    const row = phone.locator('tr', { has: phone.locator('td', { hasText: personalId }) }).first();
    const otp = (await row.locator('td.otp').innerText()).trim();
    assert.match(otp, /^\d{6}$/);
    if (name) await check(phone, name, { branded: false });
    return otp;
  } finally {
    await phone.close();
  }
}

/**
 * From the login choice page to the simulated VNeID: the password, then the OTP page; resolves
 * with the OTP read on the phone. `names` checks the pages on the way.
 */
async function viaSimulator(page, context, personalId, names = {}) {
  await page.getByRole('link', { name: SIMULATOR_CHOICE }).click();
  await page.getByRole('heading', { name: 'Đăng nhập VNeID' }).waitFor();
  await page.locator('#qr svg').waitFor({ state: 'visible' });
  if (names.login) await check(page, names.login, { branded: false });
  await submitPassword(page, personalId);
  if (names.otp) await check(page, names.otp, { branded: false });
  return phoneOtp(context, personalId, names.phone);
}

// ---------------------------------------------------------------------------------------------

test('every page fits a 390 px phone and carries the branding', async (t) => {
  const { context, w } = await newWatchedContext(browser);
  const page = await context.newPage();
  await page.setViewportSize(PHONE);
  const heading = (name) => page.getByRole('heading', { name }).waitFor();

  await page.goto(`${gateway.base}/`);
  await check(page, 'home');

  // The demo portal, the login choice, the national broker down.
  await page.goto(`${gateway.base}/demo`);
  await heading('Cổng dịch vụ công thử nghiệm');
  await check(page, 'demo');
  await page.getByRole('link', { name: 'Đăng nhập bằng VNeID' }).click();
  await heading('Chọn loại tài khoản để đăng nhập');
  await check(page, 'login-choice');
  const down = await landing(page, () => page.getByRole('link', { name: DOWN_CHOICE }).click());
  assert.equal(down, 503);
  await heading('Không kết nối được hệ thống xác thực');
  await check(page, 'broker-down-503');

  // A level-2 citizen: the simulated VNeID pages, then the portal's claims.
  await page.goBack();
  await heading('Chọn loại tài khoản để đăng nhập');
  const otp = await viaSimulator(page, context, LEVEL2.id, {
    login: 'vneid-login-qr',
    otp: 'vneid-otp',
    phone: 'vneid-phone',
  });
  await submitOtp(page, otp);
  await heading(`Xin chào, ${LEVEL2.name}!`);
  await tablesScrollInside(page, 'demo claims');
  await check(page, 'demo-claims');

  // The gateway's logout question (the session is open) and its answer.
  await page.goto(`${gateway.base}/logout`);
  await heading('Bạn có muốn đăng xuất?');
  await check(page, 'logout-question');
  await page.getByRole('button', { name: 'Đăng xuất' }).click();
  await heading('Bạn đã đăng xuất');
  await check(page, 'logged-out');

  // A level-1 citizen: refused (403), then back at the portal with access_denied.
  await page.goto(`${gateway.base}/demo/login`);
  await heading('Chọn loại tài khoản để đăng nhập');
  const level1 = await viaSimulator(page, context, LEVEL1.id);
  assert.equal(await landing(page, () => submitOtp(page, level1)), 403);
  await heading('Không thể đăng nhập');
  assert.match(await page.locator('main').innerText(), /mức độ 2/);
  await check(page, 'refusal-level-too-low-403');
  await page.getByRole('link', { name: /^Quay lại/ }).click();
  await page.waitForURL((u) => u.pathname === '/demo/callback');
  await page.getByText('access_denied').first().waitFor();
  await check(page, 'demo-access-denied');

  // Errors: an unknown page, a bad request, a portal answer that is not the gateway's.
  assert.equal(await landing(page, () => page.goto(`${gateway.base}/khong-co-trang-nay`)), 404);
  await heading('Không tìm thấy trang');
  await check(page, 'not-found-404');
  assert.equal(await landing(page, () => page.goto(`${gateway.base}/authorize?client_id=nobody`)), 400);
  await check(page, 'bad-request-400');
  assert.equal(await landing(page, () => page.goto(`${gateway.base}/demo/callback?code=x&state=y`)), 502);
  await heading('Đăng nhập không thành công');
  await check(page, 'demo-error-502');

  // The simulator's own first page (the test accounts).
  await page.goto(`${gateway.base}/simulator/`);
  await heading('Cổng xác thực giả lập');
  await check(page, 'vneid-index', { branded: false });

  await finish(t, context, w);
});

test('the console fits a 390 px phone: its login, its 403, another account, the report', async (t) => {
  const { context, w } = await newWatchedContext(browser);
  const page = await context.newPage();
  await page.setViewportSize(PHONE);
  const heading = (name) => page.getByRole('heading', { name }).waitFor();

  await page.goto(`${gateway.base}/admin/readiness`);
  await heading(CONSOLE_TITLE);
  await check(page, 'console-login');
  await page.getByRole('link', { name: 'Đăng nhập bằng VNeID' }).click();
  await heading('Chọn loại tài khoản để đăng nhập');
  // LEVEL2 holds the citizen account an.nv: not a console user.
  const citizen = await viaSimulator(page, context, LEVEL2.id);
  assert.equal(await landing(page, () => submitOtp(page, citizen)), 403);
  await heading('Không có quyền truy cập');
  await check(page, 'console-403');

  // "Đăng nhập bằng tài khoản khác" as the console user: the report.
  await page.getByRole('link', { name: 'Đăng nhập bằng tài khoản khác' }).click();
  await heading('Chọn loại tài khoản để đăng nhập');
  const officer = await viaSimulator(page, context, OFFICER.id);
  assert.equal(await landing(page, () => submitOtp(page, officer)), 200);
  await heading(CONSOLE_TITLE);
  await page.locator('ul.bars meter').first().waitFor();
  for (const s of await page.locator('details > summary').all()) await s.click();
  assert.ok(await tablesScrollInside(page, 'report'), 'at 390 px the report table scrolls inside its card');
  await check(page, 'console-report');

  // The console's callback without a login under way.
  assert.equal(await landing(page, () => page.goto(`${gateway.base}/admin/callback`)), 400);
  await heading('Phiên đăng nhập đã hết hạn');
  await check(page, 'console-callback-expired-400');

  await finish(t, context, w);
});

test("a protected app's pages fit a 390 px phone: bad rd, login refused, logout", async (t) => {
  const { context, w } = await newWatchedContext(browser);
  const page = await context.newPage();
  await page.setViewportSize(PHONE);
  const heading = (name) => page.getByRole('heading', { name }).waitFor();
  const app = `${gateway.base}/.vneid`;

  // An rd to another origin: the Vietnamese 400 page, no redirect.
  assert.equal(await landing(page, () => page.goto(`${app}/start?rd=%2F%2Fevil.example%2F`)), 400);
  await heading('Địa chỉ quay lại không hợp lệ');
  await check(page, 'app-bad-rd-400');
  assert.equal(await landing(page, () => page.goto(`${app}/callback?state=x`)), 400);
  await heading('Phiên đăng nhập không hợp lệ');
  await check(page, 'app-callback-400');

  // Logged in at the app, back at rd; the logout typed in the address bar asks first.
  await page.goto(`${app}/start?rd=%2Fdemo`);
  await heading('Chọn loại tài khoản để đăng nhập');
  const otp = await viaSimulator(page, context, LEVEL2.id);
  await submitOtp(page, otp);
  await page.waitForURL((u) => u.pathname === '/demo');
  await page.goto(`${app}/logout`);
  await heading(`Bạn có muốn đăng xuất khỏi ${APP_NAME}?`);
  await check(page, 'app-logout-question');
  await page.getByRole('button', { name: 'Đăng xuất' }).click();
  await heading(`Bạn đã đăng xuất khỏi ${APP_NAME}`);
  await check(page, 'app-logged-out');

  // A level-1 citizen: the gateway's refusal, then the app says it too.
  await page.goto(`${gateway.base}/logout`);
  await page.getByRole('button', { name: 'Đăng xuất' }).click();
  await page.goto(`${app}/start`);
  await heading('Chọn loại tài khoản để đăng nhập');
  const level1 = await viaSimulator(page, context, LEVEL1.id);
  assert.equal(await landing(page, () => submitOtp(page, level1)), 403);
  await heading('Không thể đăng nhập');
  await page.getByRole('link', { name: /^Quay lại/ }).click();
  await heading(`Không đăng nhập được vào ${APP_NAME}`);
  await check(page, 'app-login-refused-403');

  await finish(t, context, w);
});

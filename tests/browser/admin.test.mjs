// Click-through browser tests of the IT centre's readiness page (/admin/readiness): the gateway
// started from a configuration file (SQLite, simulator, a console user, the IT centre's machine
// client, the province's branding), the one-stop-shop directory imported through the admin API,
// then a console user logs in through VNeID (password + OTP from the simulated phone) and reads
// the report (bars per unit, then the table), and a citizen who is not a console user is refused,
// switches account ("Đăng nhập bằng tài khoản khác") to the console user, then logs out.
//
// Runs Debian's Chromium through playwright-core (no browser download):
//   apt-get install chromium && cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci && node --test
// Env: GATEWAY_BIN (gateway binary), CHROMIUM (browser binary), SCREENSHOT_DIR (PNG output).
// Shared helpers (gateway process, browser, error watching, VNeID steps): lib.mjs; the
// configuration, the directory and the branding check: fixture.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import {
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
  tempDir,
  waitForOutput,
} from './lib.mjs';
import {
  CONSOLE_USER,
  DIRECTORY,
  MARKUP_NAME,
  MARKUP_ROW,
  MARKUP_UNIT,
  adminToken,
  assertBranded,
  importDirectory,
  writeConfig,
} from './fixture.mjs';

const TITLE = 'Mức độ sẵn sàng đăng nhập bằng VNeID';
let gateway; // { proc, dir, base, output(), exited() }
let browser;

before(async () => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const dir = tempDir();
  const port = await freePort();
  writeConfig(dir, port);
  // serve migrates a SQLite database itself (`gateway migrate` is for a shared Postgres).
  gateway = await startGateway({ dir, port, args: ['serve', '--config', 'gateway.toml'] });
  await waitForOutput(gateway, 'vneid-gateway is running at');
  assert.match(gateway.output(), new RegExp(`vneid-gateway is running at ${gateway.base.replace(/[.]/g, '\\.')}`));

  const report = await importDirectory(gateway.base, await adminToken(gateway.base), DIRECTORY + MARKUP_ROW);
  assert.equal(report.written, true);
  assert.equal(report.rows, 8);
  assert.equal(report.created, 8);
  assert.deepEqual(report.rejected, []);
  assert.deepEqual(report.flagged.missing.map((f) => f.username), ['thieu.so', 'do.thu']);
  assert.deepEqual(report.flagged.invalid.map((f) => f.username), ['sai.so']);
  assert.deepEqual(report.flagged.duplicate, ['binh.tt', 'binh.tt2']);

  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopGateway(gateway);
});

// ---------------------------------------------------------------------------------------------
// Steps a person takes.

/** /admin/readiness without a session → the console's login page → the VNeID login page. */
async function openConsoleLogin(page, screenshotName) {
  const res = await page.goto(`${gateway.base}/admin/readiness`);
  assert.equal(res.status(), 200);
  await page.getByRole('heading', { name: TITLE }).waitFor();
  assert.equal(await lang(page), 'vi', 'console login page lang');
  assert.match(await page.locator('main').innerText(), /Trung tâm Công nghệ thông tin/);
  assert.equal(await page.locator('main table').count(), 0, 'no report before logging in');
  await assertBranded(page, 'console login');
  if (screenshotName) await shot(page, screenshotName);
  await page.getByRole('link', { name: 'Đăng nhập bằng VNeID' }).click();
  await page.getByRole('heading', { name: 'Đăng nhập VNeID' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/simulator/oauth2/authorize');
  assert.equal(await lang(page), 'vi', 'VNeID login page lang');
}

/** Password, then the OTP from the phone; resolves with the response of /admin/readiness. */
async function logInThroughVneid(page, context, personalId, phoneScreenshot) {
  await submitPassword(page, personalId);
  const otp = await otpFromPhone(context, gateway.base, personalId, phoneScreenshot);
  const landed = page.waitForResponse(
    (r) => r.request().isNavigationRequest() && new URL(r.url()).pathname === '/admin/readiness',
  );
  await submitOtp(page, otp);
  const res = await landed;
  await page.waitForURL((u) => u.pathname === '/admin/readiness');
  return res;
}

/** Cell texts of the rows of a table (`th` and `td`), trimmed. */
async function cells(rows) {
  const out = [];
  for (const row of await rows.all()) {
    out.push((await row.locator('th, td').allInnerTexts()).map((s) => s.trim()));
  }
  return out;
}

/** The CSV of /admin/readiness.csv without following redirects, with the context's cookies. */
function csvRequest(context) {
  return context.request.get(`${gateway.base}/admin/readiness.csv`, { maxRedirects: 0 });
}

// ---------------------------------------------------------------------------------------------

test('console user logs in through VNeID and reads the readiness report', async (t) => {
  const { context, w } = await newWatchedContext(browser);
  const page = await context.newPage();

  // Without a session the CSV sends people to the page, which offers the login.
  let csv = await csvRequest(context);
  assert.equal(csv.status(), 302);
  assert.equal(csv.headers().location, '/admin/readiness');

  await openConsoleLogin(page, 'admin-01-login');
  await shot(page, 'admin-02-vneid-login');
  const res = await logInThroughVneid(page, context, OFFICER.id, 'admin-03-phone-otp');
  assert.equal(res.status(), 200);

  // The report: per unit, then the totals (the fixture's numbers; cuong.lv has just linked).
  await page.getByRole('heading', { name: TITLE }).waitFor();
  assert.equal(await lang(page), 'vi', 'report page lang');
  const head = await page.locator('main > p.muted').innerText();
  assert.match(head, new RegExp(`người xem: ${CONSOLE_USER.replace('.', '\\.')}`));
  assert.match(head, /^Lập lúc \d{2}\/\d{2}\/\d{4} \d{2}:\d{2} \(giờ Việt Nam\)/);
  await assertBranded(page, 'report');
  const report = page.locator('main > .scroll > table.wide');
  assert.deepEqual((await cells(report.locator('tr').first()))[0], [
    'Mã đơn vị',
    'Tên đơn vị',
    'Tài khoản',
    'CBCCVC',
    'Số định danh hợp lệ',
    'Thiếu số',
    'Số sai',
    'Số trùng',
    'Đã liên kết VNeID mức 2',
  ]);
  assert.deepEqual(await cells(report.locator('tr:has(td)')), [
    ['BD-MOTCUA', 'Bưu điện - Bộ phận Một cửa', '1', '1', '1', '0', '0', '0', '0'],
    ['CONGDAN', 'Công dân', '1', '0', '0', '0', '0', '0', '0'],
    ['TT-CNTT', MARKUP_UNIT, '1', '1', '0', '1', '0', '0', '0'],
    ['UBND-P01', 'UBND phường Hải Châu 1', '2', '2', '1', '0', '0', '1', '1'],
    ['UBND-P02', 'UBND phường Thạch Thang', '3', '3', '0', '1', '1', '1', '0'],
  ]);
  assert.deepEqual(await cells(report.locator('tr', { has: page.locator('th', { hasText: 'Tổng cộng' }) })), [
    ['Tổng cộng', '8', '7', '2', '2', '1', '2', '1'],
  ]);
  await shot(page, 'admin-04-report');

  // Above the table, a bar per unit (then all units): the share of staff linked through VNeID
  // level 2, and of staff with a valid number; a meter named with the figures, the figure as text.
  const bars = page.locator('ul.bars');
  assert.ok(
    (await bars.boundingBox()).y + (await bars.boundingBox()).height <= (await report.boundingBox()).y,
    'the bars are above the table',
  );
  const meters = await bars.locator('li').evaluateAll((items) =>
    items.map((li) => [
      li.querySelector('.unit').textContent,
      ...[...li.querySelectorAll('.bar')].map(
        (b) => `${b.querySelector('.what').textContent}: ${b.querySelector('meter').value}/${b.querySelector('meter').max} ${b.querySelector('.figure').textContent}`,
      ),
    ]),
  );
  assert.deepEqual(meters, [
    ['BD-MOTCUA — Bưu điện - Bộ phận Một cửa', 'Đã liên kết VNeID mức 2: 0/1 0/1 (0%)', 'Có số định danh hợp lệ: 1/1 1/1 (100%)'],
    ['CONGDAN — Công dân'],
    [`TT-CNTT — ${MARKUP_UNIT}`, 'Đã liên kết VNeID mức 2: 0/1 0/1 (0%)', 'Có số định danh hợp lệ: 0/1 0/1 (0%)'],
    ['UBND-P01 — UBND phường Hải Châu 1', 'Đã liên kết VNeID mức 2: 1/2 1/2 (50%)', 'Có số định danh hợp lệ: 1/2 1/2 (50%)'],
    ['UBND-P02 — UBND phường Thạch Thang', 'Đã liên kết VNeID mức 2: 0/3 0/3 (0%)', 'Có số định danh hợp lệ: 0/3 0/3 (0%)'],
    ['Tổng cộng', 'Đã liên kết VNeID mức 2: 1/7 1/7 (14%)', 'Có số định danh hợp lệ: 2/7 2/7 (28%)'],
  ]);
  assert.match(await bars.locator('li', { hasText: 'CONGDAN' }).innerText(), /không có CBCCVC/);
  // What a screen reader announces: each meter by its name.
  await page
    .getByRole('meter', { name: 'UBND-P01 — UBND phường Hải Châu 1: Đã liên kết VNeID mức 2, 1 trên 2 CBCCVC (50%)' })
    .waitFor();
  await page.getByRole('meter', { name: 'Tổng cộng: Có số định danh hợp lệ, 2 trên 7 CBCCVC (28%)' }).waitFor();

  // Who each unit must fix: open every unit's list, as a person would.
  await page.getByRole('heading', { name: 'Tài khoản cần đơn vị rà soát, cập nhật' }).waitFor();
  const summaries = page.locator('details > summary');
  assert.deepEqual(await summaries.allInnerTexts(), [
    `TT-CNTT — ${MARKUP_UNIT} (1 tài khoản chưa sẵn sàng)`,
    'UBND-P01 — UBND phường Hải Châu 1 (1 tài khoản chưa sẵn sàng)',
    'UBND-P02 — UBND phường Thạch Thang (3 tài khoản chưa sẵn sàng)',
  ]);
  for (const s of await summaries.all()) await s.click();
  const notReady = (unit) =>
    cells(page.locator('details', { has: page.locator('summary', { hasText: unit }) }).locator('tr:has(td)'));
  assert.deepEqual(await notReady('TT-CNTT'), [['do.thu', MARKUP_NAME, 'Chưa có số định danh cá nhân', '']]);
  assert.deepEqual(await notReady('UBND-P01'), [
    ['binh.tt', 'Trần Thị Bình', 'Số định danh cá nhân trùng với tài khoản khác', '052*******67'],
  ]);
  assert.deepEqual(await notReady('UBND-P02'), [
    ['binh.tt2', 'Trần Thị Bình, bản sao', 'Số định danh cá nhân trùng với tài khoản khác', '052*******67'],
    ['sai.so', 'Võ Văn Sai', 'Số định danh cá nhân không hợp lệ (sai định dạng: phải gồm đúng 12 chữ số)', '052******89'],
    ['thieu.so', 'Hồ Thị Thiếu', 'Chưa có số định danh cá nhân', ''],
  ]);
  const text = await page.locator('body').innerText();
  assert.match(text, /Chưa có số định danh cá nhân/);
  assert.doesNotMatch(text, /\d{12}/, 'personal ID numbers are masked');
  assert.doesNotMatch(await page.content(), /\d{12}/, 'no personal ID number anywhere in the page');
  // Markup in the directory is text on the page, never elements.
  assert.equal(await page.locator('main b, main i').count(), 0, 'directory markup escaped');

  // No script at all, and the policy forbids any.
  assert.equal(await page.evaluate(() => document.scripts.length), 0, 'no <script> on the page');
  const again = await context.request.get(`${gateway.base}/admin/readiness`);
  assert.equal(again.status(), 200);
  const csp = again.headers()['content-security-policy'] || '';
  assert.match(csp, /default-src 'none'/);
  assert.doesNotMatch(csp, /script-src/);
  assert.doesNotMatch(await again.text(), /<script/i);
  assert.equal(again.headers()['cache-control'], 'no-store');

  // Laid out within the window: nothing sticks out of the page's box.
  const overflow = await page.evaluate(() => {
    const main = document.querySelector('main');
    return {
      page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      main: main.scrollWidth - main.clientWidth,
    };
  });
  assert.deepEqual(overflow, { page: 0, main: 0 }, 'horizontal overflow (px)');
  // A masked number is one value: never split over two lines.
  const split = await page.evaluate(() =>
    [...document.querySelectorAll('main td code')]
      .filter((c) => c.getClientRects().length > 1)
      .map((c) => c.textContent),
  );
  assert.deepEqual(split, [], 'personal ID numbers wrapped inside the number');
  await shot(page, 'admin-05-report-details');

  // "Tải về CSV": a download in the browser, and the same file for a request with its cookies.
  const link = page.getByRole('link', { name: 'Tải về CSV' });
  assert.equal(await link.getAttribute('href'), '/admin/readiness.csv');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  assert.equal(download.suggestedFilename(), 'muc-do-san-sang.csv');
  const file = readFileSync(await download.path(), 'utf8');
  assert.ok(
    file.startsWith('\u{feff}unit_code,unit_name,accounts,staff,staff_valid_personal_id,'),
    JSON.stringify(file.slice(0, 80)),
  );
  assert.equal(
    file.split('\r\n').slice(1).join('\n'),
    [
      'BD-MOTCUA,Bưu điện - Bộ phận Một cửa,1,1,1,0,0,0,0,0,',
      'CONGDAN,Công dân,1,0,0,0,0,0,0,0,',
      `TT-CNTT,"${MARKUP_UNIT.replaceAll('"', '""')}",1,1,0,1,0,0,0,0,do.thu`,
      'UBND-P01,UBND phường Hải Châu 1,2,2,1,0,0,1,1,0,binh.tt',
      'UBND-P02,UBND phường Thạch Thang,3,3,0,1,1,1,0,0,binh.tt2 sai.so thieu.so',
      'TOTAL,,8,7,2,2,1,2,1,0,',
      '',
    ].join('\n'),
  );
  assert.doesNotMatch(file, /\d{12}/);
  assert.equal(new URL(page.url()).pathname, '/admin/readiness', 'the download leaves the page');

  csv = await csvRequest(context);
  assert.equal(csv.status(), 200);
  assert.equal(csv.headers()['content-type'], 'text/csv; charset=utf-8');
  assert.equal(csv.headers()['content-disposition'], 'attachment; filename="muc-do-san-sang.csv"');
  assert.equal(csv.headers()['cache-control'], 'no-store');
  assert.equal(await csv.text(), file);

  await finish(t, context, w);
});

test('a citizen who is not a console user is refused, switches to the console user, then logs out', async (t) => {
  const { context, w } = await newWatchedContext(browser);
  const page = await context.newPage();

  await openConsoleLogin(page);
  // LEVEL2 holds an.nv's number: the login links them to that citizen account.
  const res = await logInThroughVneid(page, context, LEVEL2.id);
  assert.equal(res.status(), 403);

  await page.getByRole('heading', { name: 'Không có quyền truy cập' }).waitFor();
  assert.equal(await lang(page), 'vi', 'refusal page lang');
  const text = await page.locator('main').innerText();
  assert.match(text, /Tài khoản một cửa an\.nv chưa được cấp quyền xem báo cáo này/);
  assert.doesNotMatch(text, /Tổng cộng/);
  assert.equal(await page.locator('main table').count(), 0, 'no report');
  assert.equal(await page.getByRole('link', { name: 'Tải về CSV' }).count(), 0);
  await assertBranded(page, '403');
  await shot(page, 'admin-06-forbidden');

  // Nor the CSV: it sends them back to the page.
  const csv = await csvRequest(context);
  assert.equal(csv.status(), 302);
  assert.equal(csv.headers().location, '/admin/readiness');

  // Not stuck with the wrong account: a fresh VNeID login (prompt=login) as the console user.
  const other = page.getByRole('link', { name: 'Đăng nhập bằng tài khoản khác' });
  assert.equal(await other.getAttribute('href'), '/admin/login?prompt=login');
  const authorize = page.waitForRequest((r) => new URL(r.url()).pathname === '/authorize');
  await other.click();
  assert.equal(new URL((await authorize).url()).searchParams.get('prompt'), 'login');
  await page.getByRole('heading', { name: 'Đăng nhập VNeID' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/simulator/oauth2/authorize');
  const switched = await logInThroughVneid(page, context, OFFICER.id);
  assert.equal(switched.status(), 200);
  await page.getByRole('heading', { name: TITLE }).waitFor();
  assert.match(await page.locator('main > p.muted').innerText(), new RegExp(`người xem: ${CONSOLE_USER.replace('.', '\\.')}`));
  assert.equal(await page.locator('main .scroll > table.wide').count(), 1, 'the report');
  assert.doesNotMatch(await page.locator('main').innerText(), /Không có quyền truy cập/);
  await shot(page, 'admin-07-switched');

  // "Đăng xuất": the gateway asks, logs out, and comes back to the console's first page.
  await page.getByRole('link', { name: 'Đăng xuất', exact: true }).click();
  await page.getByRole('heading', { name: 'Bạn có muốn đăng xuất?' }).waitFor();
  await assertBranded(page, 'logout question');
  await page.getByRole('button', { name: 'Đăng xuất' }).click();
  await page.waitForURL((u) => u.pathname === '/admin/readiness');
  await page.getByRole('link', { name: 'Đăng nhập bằng VNeID' }).waitFor();
  assert.equal(await page.locator('main table').count(), 0, 'no report after logging out');
  assert.equal((await csvRequest(context)).status(), 302, 'nor the CSV');

  await finish(t, context, w);
});

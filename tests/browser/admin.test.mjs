// Click-through browser tests of the IT centre's readiness page (/admin/readiness): the gateway
// started from a configuration file (SQLite, simulator, a console user, the IT centre's machine
// client), the one-stop-shop directory imported through the admin API, then a console user logs
// in through VNeID (password + OTP from the simulated phone) and reads the report, and a citizen
// who is not a console user is refused.
//
// Runs Debian's Chromium through playwright-core (no browser download):
//   apt-get install chromium && cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci && node --test
// Env: GATEWAY_BIN (gateway binary), CHROMIUM (browser binary), SCREENSHOT_DIR (PNG output).
// Shared helpers (gateway process, browser, error watching, VNeID steps): lib.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

const TITLE = 'Mức độ sẵn sàng đăng nhập bằng VNeID';
const ADMIN = 'it-centre';
const ADMIN_SECRET = 'it-centre-secret-0123456789-abcdefghijkl';
const CONSOLE_USER = 'cuong.lv'; // OFFICER's account in the directory

/**
 * The spreadsheet export of gateway/tests/e2e/directory.rs (`DIRECTORY`, verbatim: BOM, CRLF, a quoted
 * name with a comma), plus one account whose unit and name carry markup, to see it escaped.
 */
const DIRECTORY =
  '\u{feff}username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n' +
  'cuong.lv,Lê Văn Cường,UBND-P01,UBND phường Hải Châu 1,staff,052085007890,10/06/1985,0905000001,cuong@example.gov.vn\r\n' +
  'an.nv,Nguyễn Văn An,CONGDAN,Công dân,citizen,052090000123,1990-01-15,,\r\n' +
  'binh.tt,Trần Thị Bình,UBND-P01,UBND phường Hải Châu 1,staff,052195004567,,,\r\n' +
  'binh.tt2,"Trần Thị Bình, bản sao",UBND-P02,UBND phường Thạch Thang,staff,052195004567,,,\r\n' +
  'dung.pt,Phạm Thị Dung,BD-MOTCUA,Bưu điện - Bộ phận Một cửa,staff,052178001122,,,\r\n' +
  'thieu.so,Hồ Thị Thiếu,UBND-P02,UBND phường Thạch Thang,staff,,,,\r\n' +
  'sai.so,Võ Văn Sai,UBND-P02,UBND phường Thạch Thang,staff,05208500789,,,\r\n';
const MARKUP_UNIT = 'Trung tâm CNTT <b>&</b> "Chuyển đổi số"';
const MARKUP_NAME = "Đỗ <i>Thử</i> & 'Kiểm'";
const MARKUP_ROW = `do.thu,${MARKUP_NAME},TT-CNTT,"${MARKUP_UNIT.replaceAll('"', '""')}",staff,,,,\r\n`;

let gateway; // { proc, dir, base, output(), exited() }
let browser;

function config(dir, port) {
  return `# Written by tests/browser/admin.test.mjs
[server]
bind = "127.0.0.1:${port}"
public_url = "http://127.0.0.1:${port}"

[database]
url = "sqlite://${dir}/gateway.db"

[keys]
master_key_file = "${dir}/master.key"

[simulator]
enabled = true

[admin]
console_users = ["${CONSOLE_USER}"]

[[clients]]
client_id = "${ADMIN}"
client_secret = "${ADMIN_SECRET}"
grant_types = ["client_credentials"]
scopes = ["admin"]
`;
}

/** The IT centre's access token (client_credentials, HTTP Basic). */
async function adminToken() {
  const res = await fetch(`${gateway.base}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${ADMIN}:${ADMIN_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin' }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, 'Bearer');
  return body.access_token;
}

async function importDirectory(token, csv) {
  const res = await fetch(`${gateway.base}/admin/v1/directory/import`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    body: csv,
  });
  const report = await res.json();
  assert.equal(res.status, 200, JSON.stringify(report));
  return report;
}

before(async () => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const dir = tempDir();
  const port = await freePort();
  writeFileSync(join(dir, 'gateway.toml'), config(dir, port));
  // serve migrates a SQLite database itself (`gateway migrate` is for a shared Postgres).
  gateway = await startGateway({ dir, port, args: ['serve', '--config', 'gateway.toml'] });
  await waitForOutput(gateway, 'vneid-gateway is running at');
  assert.match(gateway.output(), new RegExp(`vneid-gateway is running at ${gateway.base.replace(/[.]/g, '\\.')}`));

  const report = await importDirectory(await adminToken(), DIRECTORY + MARKUP_ROW);
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
  const head = await page.locator('main p.muted').innerText();
  assert.match(head, new RegExp(`người xem: ${CONSOLE_USER.replace('.', '\\.')}`));
  assert.match(head, /^Lập lúc \d{2}\/\d{2}\/\d{4} \d{2}:\d{2} \(giờ Việt Nam\)/);
  const report = page.locator('main > table');
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
      'BD-MOTCUA,Bưu điện - Bộ phận Một cửa,1,1,1,0,0,0,0,',
      'CONGDAN,Công dân,1,0,0,0,0,0,0,',
      `TT-CNTT,"${MARKUP_UNIT.replaceAll('"', '""')}",1,1,0,1,0,0,0,do.thu`,
      'UBND-P01,UBND phường Hải Châu 1,2,2,1,0,0,1,1,binh.tt',
      'UBND-P02,UBND phường Thạch Thang,3,3,0,1,1,1,0,binh.tt2 sai.so thieu.so',
      'TOTAL,,8,7,2,2,1,2,1,',
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

test('a level-2 citizen who is not a console user is refused', async (t) => {
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
  await shot(page, 'admin-06-forbidden');

  // Nor the CSV: it sends them back to the page.
  const csv = await csvRequest(context);
  assert.equal(csv.status(), 302);
  assert.equal(csv.headers().location, '/admin/readiness');

  await finish(t, context, w);
});

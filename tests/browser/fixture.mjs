// The IT centre's setup, shared by admin.test.mjs and pages.test.mjs: the gateway's configuration
// file (SQLite, simulator, the province's branding with its logo, the console user `cuong.lv`, the
// machine client `it-centre`), the one-stop-shop directory imported through the admin API, and
// the check that a page carries the branding.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `s` matched literally in a regular expression. */
export const literally = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export const ADMIN = 'it-centre';
export const ADMIN_SECRET = 'it-centre-secret-0123456789-abcdefghijkl';
export const CONSOLE_USER = 'cuong.lv'; // OFFICER's account in the directory

/**
 * The spreadsheet export of gateway/tests/e2e/directory.rs (`DIRECTORY`, verbatim: BOM, CRLF, a quoted
 * name with a comma), plus one account whose unit and name carry markup, to see it escaped.
 */
export const DIRECTORY =
  '\u{feff}username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n' +
  'cuong.lv,Lê Văn Cường,UBND-P01,UBND phường Hải Châu 1,staff,052085007890,10/06/1985,0905000001,cuong@example.gov.vn\r\n' +
  'an.nv,Nguyễn Văn An,CONGDAN,Công dân,citizen,052090000123,1990-01-15,,\r\n' +
  'binh.tt,Trần Thị Bình,UBND-P01,UBND phường Hải Châu 1,staff,052195004567,,,\r\n' +
  'binh.tt2,"Trần Thị Bình, bản sao",UBND-P02,UBND phường Thạch Thang,staff,052195004567,,,\r\n' +
  'dung.pt,Phạm Thị Dung,BD-MOTCUA,Bưu điện - Bộ phận Một cửa,staff,052178001122,,,\r\n' +
  'thieu.so,Hồ Thị Thiếu,UBND-P02,UBND phường Thạch Thang,staff,,,,\r\n' +
  'sai.so,Võ Văn Sai,UBND-P02,UBND phường Thạch Thang,staff,05208500789,,,\r\n';
export const MARKUP_UNIT = 'Trung tâm CNTT <b>&</b> "Chuyển đổi số"';
export const MARKUP_NAME = "Đỗ <i>Thử</i> & 'Kiểm'";
export const MARKUP_ROW = `do.thu,${MARKUP_NAME},TT-CNTT,"${MARKUP_UNIT.replaceAll('"', '""')}",staff,,,,\r\n`;

/** `[branding]` of the configuration: what every page of the gateway must show. */
export const BRANDING = {
  organisation: 'UBND tỉnh Bình Định',
  serviceName: 'Cổng xác thực VNeID tỉnh Bình Định',
  hotline: '0256 3822 222',
  email: 'hotro@binhdinh.gov.vn',
};

/** The province's logo (a stand-in emblem: a gold star on a red disc). */
const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
<circle cx="32" cy="32" r="29" fill="#d71f26" stroke="#f6c343" stroke-width="4"/>
<polygon fill="#f6c343" points="32,12 37.6,25.8 52.4,26.8 41,36.4 44.6,50.8 32,42.9 19.4,50.8 23,36.4 11.6,26.8 26.4,25.8"/>
</svg>
`;

/**
 * Writes `gateway.toml` (and the logo it names) into `dir` for a gateway listening on `port`;
 * `extra` is appended (more tables: `[demo]`, `[[upstreams]]`…). Returns the file's path.
 */
export function writeConfig(dir, port, extra = '') {
  writeFileSync(join(dir, 'logo.svg'), LOGO_SVG);
  const file = join(dir, 'gateway.toml');
  writeFileSync(
    file,
    `# Written by tests/browser/fixture.mjs
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

[branding]
organisation = "${BRANDING.organisation}"
service_name = "${BRANDING.serviceName}"
logo_file = "${dir}/logo.svg"
support = { hotline = "${BRANDING.hotline}", email = "${BRANDING.email}" }

[[clients]]
client_id = "${ADMIN}"
client_secret = "${ADMIN_SECRET}"
grant_types = ["client_credentials"]
scopes = ["admin"]
${extra}`,
  );
  return file;
}

/** The IT centre's access token (client_credentials, HTTP Basic). */
export async function adminToken(base) {
  const res = await fetch(`${base}/token`, {
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

/** Imports `csv` through the admin API; resolves with the import report. */
export async function importDirectory(base, token, csv) {
  const res = await fetch(`${base}/admin/v1/directory/import`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    body: csv,
  });
  const report = await res.json();
  assert.equal(res.status, 200, JSON.stringify(report));
  return report;
}

/**
 * The page carries the branding as a person sees it: the organisation and the service's name in
 * the header, the logo loaded and drawn, and the hotline and e-mail at the foot, linked.
 */
export async function assertBranded(page, what) {
  const header = page.locator('body > header');
  const text = await header.innerText();
  assert.match(text, new RegExp(literally(BRANDING.organisation)), `${what}: organisation in the header`);
  assert.match(text, new RegExp(literally(BRANDING.serviceName.toUpperCase())), `${what}: service name in the header`);
  const logo = await header.locator('img.logo').evaluate(async (img) => {
    await img.decode().catch(() => {});
    const r = img.getBoundingClientRect();
    return { src: img.getAttribute('src'), natural: img.naturalWidth, width: r.width, height: r.height };
  });
  assert.equal(logo.src, '/branding/logo', `${what}: logo`);
  assert.ok(logo.natural > 0 && logo.width > 0 && logo.height > 0, `${what}: logo not drawn ${JSON.stringify(logo)}`);
  const footer = page.locator('body > footer');
  assert.match(await footer.innerText(), new RegExp(`Hỗ trợ: .*${literally(BRANDING.hotline)}.*${literally(BRANDING.email)}`), `${what}: support`);
  assert.equal(await footer.getByRole('link', { name: BRANDING.hotline }).getAttribute('href'), 'tel:02563822222');
  assert.equal(await footer.getByRole('link', { name: BRANDING.email }).getAttribute('href'), `mailto:${BRANDING.email}`);
}

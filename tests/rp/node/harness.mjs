// Test harness for the openid-client suite: starts a real `gateway serve` in a temp dir on a
// free port, and plays the browser through the simulator's login pages (no redirects followed
// automatically, cookies kept). Nothing here is an OpenID client: the RP side is the library.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');

export const REDIRECT_URI = 'http://127.0.0.1:9/cb';
export const POST_LOGOUT_REDIRECT_URI = 'http://127.0.0.1:9/bye';
export const CLIENT_ID = 'rp-node';
export const CLIENT_SECRET = 'rp-node-secret-0123456789-abcdefghijklmn';
export const PASSWORD = 'matkhau123';
export const LEVEL2 = '052090000123'; // Nguyễn Văn An, citizen, VNeID level 2
export const LEVEL1 = '052195004567'; // Trần Thị Bình, citizen, level 1: refused

// API resources (RFC 8707) and token exchange (RFC 8693). The portals hold `hoso.read` of
// hoso-api and nothing of thanhtoan; the machine client holds all of hoso-api.
export const HOSO = 'https://hoso.example.gov.vn/api';
export const PAY = 'https://thanhtoan.example.gov.vn';
export const MACHINE_ID = 'rp-machine';
export const MACHINE_SECRET = 'rp-machine-secret-0123456789-abcdefghijk';
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** GATEWAY_BIN (run.sh sets it), or the binary scripts/gateway-bin.sh builds from this checkout. */
export function gatewayBin() {
  process.env.GATEWAY_BIN ??= execFileSync(join(repo, 'scripts', 'gateway-bin.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const bin = process.env.GATEWAY_BIN;
  if (!existsSync(bin)) throw new Error(`GATEWAY_BIN=${bin} does not exist`);
  return bin;
}

async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/**
 * One `[[clients]]` entry. `secret`: null for a client without one (public, private_key_jwt);
 * `jwks`: the client's public keys (a JWKS object, written as TOML literal text);
 * `requirePar`, `dpopBound`, `profile`: the PAR / DPoP / FAPI 2.0 settings.
 */
function clientToml(id, secret, { authMethod, refresh, resources, jwks, requirePar, dpopBound, profile }) {
  const lines = ['[[clients]]', `client_id = "${id}"`];
  if (secret) lines.push(`client_secret = "${secret}"`);
  if (authMethod) lines.push(`token_endpoint_auth_method = "${authMethod}"`);
  // JSON has no single quote: a TOML literal string holds it as is.
  if (jwks) lines.push(`jwks = '${JSON.stringify(jwks)}'`);
  if (requirePar) lines.push('require_pushed_authorization_requests = true');
  if (dpopBound) lines.push('dpop_bound_access_tokens = true');
  if (profile) lines.push(`profile = "${profile}"`);
  const scopes = ['openid', 'profile', 'personal_id', 'offline_access'];
  if (resources) scopes.push('hoso.read');
  lines.push(
    `redirect_uris = ["${REDIRECT_URI}"]`,
    `post_logout_redirect_uris = ["${POST_LOGOUT_REDIRECT_URI}"]`,
    `scopes = [${scopes.map((s) => `"${s}"`).join(', ')}]`,
  );
  const grants = ['authorization_code'];
  if (refresh) grants.push('refresh_token');
  if (resources) grants.push(TOKEN_EXCHANGE);
  if (grants.length > 1) lines.push(`grant_types = [${grants.map((g) => `"${g}"`).join(', ')}]`);
  return lines.join('\n');
}

const RESOURCES_TOML = [
  '[[resources]]',
  'id = "hoso-api"',
  `audience = "${HOSO}"`,
  'scopes = ["hoso.read", "hoso.write"]',
  '[[resources]]',
  'id = "thanhtoan"',
  `audience = "${PAY}"`,
  'scopes = ["pay"]',
  // A machine client (no person) calling hoso-api with client_credentials.
  '[[clients]]',
  `client_id = "${MACHINE_ID}"`,
  `client_secret = "${MACHINE_SECRET}"`,
  'grant_types = ["client_credentials"]',
  'scopes = ["hoso.read", "hoso.write"]',
].join('\n');

function configToml(port, dir, features, clients) {
  return [
    '[server]',
    `bind = "127.0.0.1:${port}"`,
    '[database]',
    `url = "sqlite://${dir}/g.db"`,
    '[log]',
    'filter = "warn"',
    // A short grace window: a spent refresh token sent again later than this revokes the family.
    '[tokens]',
    'refresh_grace = "1s"',
    '[simulator]',
    'enabled = true',
    clientToml(CLIENT_ID, CLIENT_SECRET, features),
    clientToml('rp-python', 'rp-python-secret-0123456789-abcdefghijkl', {
      authMethod: 'client_secret_post',
      ...features,
    }),
    ...(features.resources ? [RESOURCES_TOML] : []),
    // A suite's own clients (the FAPI suite's): the refresh grant as the feature set says.
    ...clients.map(({ id, secret = null, ...settings }) =>
      clientToml(id, secret, { ...settings, refresh: features.refresh, resources: false }),
    ),
    '',
  ].join('\n');
}

/** The configurations tried, richest first: the first one `check-config` accepts is served. */
const FEATURE_SETS = [
  { refresh: true, resources: true },
  { refresh: true, resources: false },
  { refresh: false, resources: false },
];

/**
 * Starts `gateway serve` and waits for /healthz. The clients get the refresh_token grant, and
 * the `[[resources]]` with the token-exchange grant and the machine client, only when this
 * gateway build accepts them (`check-config`), so the same harness works before and after
 * those features land; the tests of each decide on discovery (and fail when discovery has the
 * feature but the configuration was refused: `configRejected` says why).
 * `clients`: more `[[clients]]` a suite needs, `{ id, secret?, authMethod?, jwks?, requirePar?,
 * dpopBound?, profile? }` (each gets the refresh grant when the feature set has it).
 */
export async function startGateway({ clients = [] } = {}) {
  const bin = gatewayBin();
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'vneid-rp-node-'));
    const port = await freePort();
    const cfg = join(dir, 'gateway.toml');
    let features;
    const rejected = [];
    for (features of FEATURE_SETS) {
      writeFileSync(cfg, configToml(port, dir, features, clients));
      const check = spawnSync(bin, ['check-config', '--config', cfg], { cwd: dir, encoding: 'utf8' });
      if (check.status === 0) break;
      rejected.push(`${JSON.stringify(features)}: ${(check.stderr || check.stdout).trim()}`);
    }
    const logPath = join(dir, 'gateway.log');
    const url = `http://127.0.0.1:${port}`;
    const log = () => {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    };
    let proc = await serve(bin, dir, cfg, logPath, url, 'w');
    if (proc.up) {
      return {
        url,
        issuer: url,
        dir,
        refreshConfigured: features.refresh,
        resourcesConfigured: features.resources,
        configRejected: rejected.join('\n'),
        log,
        /** Stops the gateway and starts it again on the same port, database and master key. */
        async restart() {
          await proc.stop();
          proc = await serve(bin, dir, cfg, logPath, url, 'a');
          if (!proc.up) {
            throw new Error(`the restarted gateway did not become healthy (exit ${JSON.stringify(proc.exited())}):\n${log()}`);
          }
        },
        async stop() {
          await proc.stop();
          if (!process.env.KEEP_GATEWAY_DIR) rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    lastError = new Error(
      `gateway did not become healthy on ${url} (exit ${JSON.stringify(proc.exited())}):\n${log()}`,
    );
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  throw lastError;
}

/** One `gateway serve` process, its log appended to `logPath` (`flags` 'w' or 'a'), once healthy. */
async function serve(bin, dir, cfg, logPath, url, flags) {
  const logFd = openSync(logPath, flags);
  const child = spawn(bin, ['serve', '--config', cfg], {
    cwd: dir,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  let exited = null;
  // If this test process dies without running its after() hooks, take the gateway along.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    process.off('exit', reap);
  });
  const deadline = Date.now() + 60_000;
  let up = false;
  while (Date.now() < deadline && exited === null) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) {
        up = true;
        break;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    up,
    exited: () => exited,
    async stop() {
      if (exited !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    },
  };
}

// ---- a minimal browser: cookie jar, no automatic redirects -----------------------------------

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
export function htmlUnescape(s) {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, e) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return String.fromCodePoint(cp);
    }
    return ENTITIES[e] ?? m;
  });
}

function hiddenInput(html, name) {
  for (const tag of html.match(/<input\b[^>]*>/gi) ?? []) {
    const n = tag.match(/\bname="([^"]*)"/i);
    if (n && htmlUnescape(n[1]) === name) {
      const v = tag.match(/\bvalue="([^"]*)"/i);
      return v ? htmlUnescape(v[1]) : '';
    }
  }
  return undefined;
}

export class Browser {
  constructor(gatewayUrl) {
    this.origin = new URL(gatewayUrl).origin;
    this.cookies = new Map();
  }

  async request(url, { method = 'GET', form } = {}) {
    const u = new URL(url);
    if (u.origin !== this.origin) {
      throw new Error(`the test browser only talks to the gateway, not ${u.origin} (${url})`);
    }
    const headers = { accept: 'text/html,application/json' };
    if (this.cookies.size) {
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(u, { method, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(a));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    const location = res.headers.get('location');
    return {
      status: res.status,
      location: location ? new URL(location, u).href : null,
      text,
      headers: res.headers,
    };
  }

  /** GET the RP-built authorize URL; expects the gateway to redirect somewhere. */
  async authorize(authorizeUrl) {
    const r = await this.request(authorizeUrl);
    if (![302, 303].includes(r.status) || !r.location) {
      throw new Error(`/authorize answered ${r.status}, not a redirect:\n${r.text.slice(0, 2000)}`);
    }
    return r.location;
  }

  /**
   * Plays the person: authorize → simulator login (personal ID + password) → OTP read from the
   * simulated phone → gateway callback. Returns the URL the browser is sent to at the RP's
   * redirect_uri (never fetched): the 302 Location, or on a refusal page (403) its link back.
   */
  async login(authorizeUrl, personalId = LEVEL2) {
    const sim = await this.authorize(authorizeUrl);
    if (!sim.startsWith(`${this.origin}/simulator/oauth2/authorize?`)) {
      throw new Error(`expected a redirect to the simulator, got ${sim}`);
    }
    const page = await this.request(sim);
    if (page.status !== 200) throw new Error(`simulator authorize: ${page.status}`);
    const request = hiddenInput(page.text, 'request');
    if (!request) throw new Error('simulator login page has no hidden "request" input');
    const otpPage = await this.request(`${this.origin}/simulator/login`, {
      method: 'POST',
      form: { request, personal_id: personalId, password: PASSWORD },
    });
    if (otpPage.status !== 200 || !/\bname="otp"/.test(otpPage.text)) {
      throw new Error(`simulator login did not lead to the OTP page (${otpPage.status})`);
    }
    const phone = await this.request(`${this.origin}/simulator/phone/messages`);
    const messages = JSON.parse(phone.text);
    const msg = messages.find((m) => m.request === request);
    if (!msg) throw new Error(`no OTP on the simulated phone for request ${request}`);
    const afterOtp = await this.request(`${this.origin}/simulator/otp`, {
      method: 'POST',
      form: { request, otp: msg.otp },
    });
    if (![302, 303].includes(afterOtp.status) || !afterOtp.location) {
      throw new Error(`simulator OTP answered ${afterOtp.status}`);
    }
    if (!afterOtp.location.startsWith(`${this.origin}/login/vneid/callback?`)) {
      throw new Error(`expected the gateway's upstream callback, got ${afterOtp.location}`);
    }
    const cb = await this.request(afterOtp.location);
    return this.backToRp(cb);
  }

  /** The URL at the RP's redirect URI that a gateway response sends the browser to. */
  backToRp(r, redirectUri = REDIRECT_URI) {
    if ([302, 303].includes(r.status) && r.location) return { status: r.status, url: r.location };
    // A refusal page: the person reads why, the link goes back to the portal.
    for (const m of r.text.matchAll(/<a\b[^>]*\bhref="([^"]*)"/gi)) {
      const href = htmlUnescape(m[1]);
      if (href.startsWith(`${redirectUri}?`)) return { status: r.status, url: href, page: r.text };
    }
    throw new Error(`no way back to ${redirectUri} from a ${r.status} response:\n${r.text.slice(0, 2000)}`);
  }
}

export { hiddenInput };

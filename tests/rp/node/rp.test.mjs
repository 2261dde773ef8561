// The gateway as an OpenID provider, driven by openid-client (panva, OpenID-certified RP
// library). Every protocol step — discovery, authorization URL, callback validation (state, RFC
// 9207 iss), code exchange with client_secret_basic, ID-token signature (JWKS) and claims,
// userinfo, introspection, revocation, refresh, end-session URL, client_credentials, token
// exchange — is done by the library; the test only plays the person in the browser
// (harness.mjs). Access tokens for an API (RFC 8707 resources) are checked as that API would:
// jose against the gateway's JWKS (RFC 9068 `at+jwt`).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import {
  ACCESS_TOKEN_TYPE,
  Browser,
  CLIENT_ID,
  CLIENT_SECRET,
  HOSO,
  LEVEL1,
  LEVEL2,
  MACHINE_ID,
  MACHINE_SECRET,
  PAY,
  POST_LOGOUT_REDIRECT_URI,
  REDIRECT_URI,
  TOKEN_EXCHANGE,
  hiddenInput,
  htmlUnescape,
  startGateway,
} from './harness.mjs';

const require = createRequire(import.meta.url);
const versions = {
  'openid-client': require('openid-client/package.json').version,
  oauth4webapi: require('oauth4webapi/package.json').version,
  jose: require('jose/package.json').version,
  node: process.version,
};

let gw;
let config;
let metadata;
let jwks;

async function discover() {
  const c = await client.discovery(
    new URL(gw.issuer),
    CLIENT_ID,
    CLIENT_SECRET,
    client.ClientSecretBasic(CLIENT_SECRET),
    { execute: [client.allowInsecureRequests] }, // http is only ever used on loopback here
  );
  // By default openid-client trusts the TLS channel for ID tokens from the token endpoint
  // (OIDC Core 3.1.3.7 step 6); this makes it verify the JWS signature against jwks_uri too.
  client.enableNonRepudiationChecks(c);
  return c;
}

/**
 * A full login through the library: returns the library's token response + the browser.
 * `authParams`: more authorization-request parameters (`resource`); `tokenParams`: more
 * token-request parameters for the code exchange.
 */
async function loginWithLibrary({
  scope = 'openid profile personal_id',
  personalId = LEVEL2,
  authParams = {},
  tokenParams,
} = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ...authParams,
  });
  const browser = new Browser(gw.url);
  const back = await browser.login(authUrl.href, personalId);
  const tokens = await client.authorizationCodeGrant(
    config,
    new URL(back.url),
    {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    },
    tokenParams,
  );
  return { tokens, browser, back, state, nonce, authUrl };
}

/**
 * An authorization request the gateway refuses before any login page (it redirects the error to
 * the portal): the error as the library's callback handling reports it. `resources`: `resource`
 * parameters, repeated as given (buildAuthorizationUrl appends every entry of URLSearchParams).
 */
async function authorizationError(scope, resources = []) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = new URLSearchParams({
    redirect_uri: REDIRECT_URI,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  for (const r of resources) params.append('resource', r);
  const authUrl = client.buildAuthorizationUrl(config, params);
  assert.deepEqual(authUrl.searchParams.getAll('resource'), resources);
  const back = await new Browser(gw.url).authorize(authUrl.href);
  assert.ok(back.startsWith(`${REDIRECT_URI}?`), `refused at once, back to the portal: ${back}`);
  let error;
  await assert.rejects(
    client.authorizationCodeGrant(config, new URL(back), {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
    }),
    (err) => {
      assert.ok(err instanceof client.AuthorizationResponseError, `${err?.name}: ${err?.message}`);
      error = err;
      return true;
    },
  );
  return error;
}

/**
 * A token-endpoint error answer as openid-client reports it (ResponseBodyError, HTTP 400);
 * `why` matches the description where the error code alone would not tell the reason.
 */
function tokenError(expected, why = /./) {
  return (err) => {
    assert.ok(err instanceof client.ResponseBodyError, `${err?.name}: ${err?.message}`);
    assert.equal(err.status, 400);
    assert.equal(err.error, expected, `${err.error}: ${err.error_description}`);
    assert.match(err.error_description ?? '', why);
    return true;
  };
}

/**
 * An access token as the API it is for checks it (RFC 9068): signature against the gateway's
 * JWKS, `typ` at+jwt, iss, exp, and `aud` = the API's own audience. Returns the claims.
 */
async function verifyAccessToken(token, audience) {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: gw.issuer,
    audience,
    typ: 'at+jwt',
    requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'],
  });
  assert.equal(protectedHeader.typ, 'at+jwt');
  assert.equal(payload.aud, audience, 'one audience, a string');
  return payload;
}

/** The resource tests run when discovery offers token exchange (the gateway has [[resources]]). */
function needsResources(t) {
  if (!metadata.grant_types_supported?.includes(TOKEN_EXCHANGE)) {
    t.skip('API resources not implemented yet: discovery grant_types_supported lacks token exchange');
    return false;
  }
  assert.ok(
    gw.resourcesConfigured,
    `discovery lists token exchange but check-config refused the [[resources]] configuration:\n${gw.configRejected}`,
  );
  return true;
}

/** openid-client wraps oauth4webapi's check failures: the reason is in err.cause. */
function invalidResponse(re) {
  return (err) => {
    assert.equal(err.code, 'OAUTH_INVALID_RESPONSE', `${err?.name}: ${err?.message}`);
    assert.match(err.cause?.message ?? '', re);
    return true;
  };
}

function assertCitizenClaims(claims) {
  assert.equal(claims.iss, gw.issuer);
  assert.equal(claims.aud === CLIENT_ID || (Array.isArray(claims.aud) && claims.aud.includes(CLIENT_ID)), true);
  assert.equal(claims.acr, 'urn:vneid:loa:2');
  assert.equal(claims.personal_id, '052090000123');
  assert.equal(claims.name?.normalize('NFC'), 'Nguyễn Văn An'.normalize('NFC'));
  assert.equal(claims.birthdate, '1990-01-15');
  assert.equal(claims.idp, 'vneid');
  assert.equal(claims.login_idp, 'BCA');
  assert.equal(typeof claims.sub, 'string');
  assert.notEqual(claims.sub, '052090000123', 'sub must never be the personal ID number');
}

describe(`openid-client ${versions['openid-client']} against the gateway`, () => {
  before(async () => {
    gw = await startGateway();
    config = await discover();
    metadata = config.serverMetadata();
    jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
  });
  after(async () => {
    await gw?.stop();
  });

  it('discovery: the library accepts the metadata', () => {
    assert.equal(metadata.issuer, gw.issuer);
    assert.ok(metadata.jwks_uri);
    assert.ok(metadata.introspection_endpoint, 'introspection_endpoint in discovery');
    assert.ok(metadata.revocation_endpoint, 'revocation_endpoint in discovery');
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
    assert.ok(metadata.code_challenge_methods_supported?.includes('S256'));
  });

  it('login: PKCE S256 + state + nonce, code exchange (client_secret_basic), ID token validated', async () => {
    const { tokens, back, state } = await loginWithLibrary();
    const cb = new URL(back.url);
    assert.equal(cb.searchParams.get('state'), state);
    assert.equal(cb.searchParams.get('iss'), gw.issuer, 'RFC 9207 iss in the authorization response');
    assert.equal(tokens.token_type, 'bearer');
    assert.ok(tokens.access_token);
    assert.ok(tokens.id_token);
    assertCitizenClaims(tokens.claims());
  });

  it('the library refuses a callback with a wrong state or a wrong iss', async () => {
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const authUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const back = await new Browser(gw.url).login(authUrl.href);
    const checks = { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce };
    await assert.rejects(
      client.authorizationCodeGrant(config, new URL(back.url), { ...checks, expectedState: 'other' }),
      invalidResponse(/unexpected "state" response parameter value/),
    );
    const forged = new URL(back.url);
    forged.searchParams.set('iss', 'http://127.0.0.1:1');
    await assert.rejects(
      client.authorizationCodeGrant(config, forged, checks),
      invalidResponse(/unexpected "iss" \(issuer\) response parameter value/),
    );
    const noIss = new URL(back.url);
    noIss.searchParams.delete('iss');
    await assert.rejects(
      client.authorizationCodeGrant(config, noIss, checks),
      invalidResponse(/response parameter "iss" \(issuer\) missing/),
    );
    // The untouched response still works once.
    const tokens = await client.authorizationCodeGrant(config, new URL(back.url), checks);
    assert.ok(tokens.claims().sub);
  });

  it('the library itself rejects a wrong nonce and an ID token whose signature does not verify', async () => {
    const attempt = async () => {
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const authUrl = client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      const back = await new Browser(gw.url).login(authUrl.href);
      return { url: new URL(back.url), checks: { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce } };
    };
    const a = await attempt();
    await assert.rejects(
      client.authorizationCodeGrant(config, a.url, { ...a.checks, expectedNonce: 'not-the-nonce' }),
      (err) => {
        assert.equal(err.code, 'OAUTH_JWT_CLAIM_COMPARISON_FAILED', `${err?.name}: ${err?.message}`);
        assert.match(err.cause?.message ?? '', /nonce/);
        return true;
      },
    );
    // Flip the ID token's signature in the token response on its way to the library (a
    // configuration of its own, so the shared one keeps the plain fetch).
    const b = await attempt();
    const tokenEndpoint = metadata.token_endpoint;
    const tampered = await discover();
    tampered[client.customFetch] = async (url, options) => {
      const res = await fetch(url, options);
      if (String(url) !== tokenEndpoint || !res.ok) return res;
      const body = await res.json();
      const [h, p, s] = body.id_token.split('.');
      body.id_token = `${h}.${p}.${s.slice(0, -4)}${s.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
      return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
    };
    await assert.rejects(client.authorizationCodeGrant(tampered, b.url, b.checks), (err) => {
      assert.match(`${err?.message} ${err?.cause?.message}`, /signature/i, `${err?.name}: ${err?.message}`);
      return true;
    });
  });

  it('userinfo through the library: same sub as the ID token', async () => {
    const { tokens } = await loginWithLibrary();
    const claims = tokens.claims();
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);
    assert.equal(info.personal_id, '052090000123');
    assert.equal(info.name?.normalize('NFC'), 'Nguyễn Văn An'.normalize('NFC'));
    assert.equal(info.birthdate, '1990-01-15');
  });

  it('introspection (RFC 7662) and revocation (RFC 7009): active → revoked → inactive, userinfo 401', async () => {
    const { tokens } = await loginWithLibrary();
    const sub = tokens.claims().sub;
    const before = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(before.active, true);
    assert.equal(before.sub, sub);
    assert.equal(before.client_id, CLIENT_ID);

    await client.tokenRevocation(config, tokens.access_token, { token_type_hint: 'access_token' });

    const afterRevoke = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(afterRevoke.active, false);

    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, sub), (err) => {
      assert.equal(err.status ?? err.response?.status ?? err.cause?.status, 401, String(err));
      return true;
    });
    // Revoking again (or an unknown token) is still a success (RFC 7009 §2.2).
    await client.tokenRevocation(config, tokens.access_token);
    await client.tokenRevocation(config, 'not-a-token-at-all');
  });

  it('refusal: a level-1 citizen → access_denied "level_too_low…" through the library', async () => {
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const authUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const back = await new Browser(gw.url).login(authUrl.href, LEVEL1);
    assert.equal(back.status, 403, 'the person sees the refusal page');
    await assert.rejects(
      client.authorizationCodeGrant(config, new URL(back.url), {
        pkceCodeVerifier: codeVerifier,
        expectedState: state,
        expectedNonce: nonce,
      }),
      (err) => {
        assert.ok(err instanceof client.AuthorizationResponseError, `${err?.name}: ${err?.message}`);
        assert.equal(err.error, 'access_denied');
        assert.match(err.error_description ?? '', /^level_too_low/);
        return true;
      },
    );
  });

  it('refresh: offline_access, rotation (a new refresh token each time)', async (t) => {
    if (!metadata.grant_types_supported?.includes('refresh_token')) {
      t.skip('refresh tokens not implemented yet: discovery grant_types_supported lacks "refresh_token"');
      return;
    }
    assert.ok(gw.refreshConfigured, 'discovery lists refresh_token but the config rejects it on a client');
    const { tokens } = await loginWithLibrary({ scope: 'openid profile personal_id offline_access' });
    const sub = tokens.claims().sub;
    const rt0 = tokens.refresh_token;
    assert.ok(rt0, 'a refresh token for scope offline_access');

    const t1 = await client.refreshTokenGrant(config, rt0);
    assert.ok(t1.access_token);
    assert.ok(t1.refresh_token, 'rotation: a new refresh token');
    assert.notEqual(t1.refresh_token, rt0);
    assert.notEqual(t1.access_token, tokens.access_token);
    if (t1.id_token) assert.equal(t1.claims().sub, sub);
    const info = await client.fetchUserInfo(config, t1.access_token, sub);
    assert.equal(info.sub, sub);

    const t2 = await client.refreshTokenGrant(config, t1.refresh_token);
    assert.ok(t2.refresh_token);
    assert.notEqual(t2.refresh_token, t1.refresh_token);
    assert.notEqual(t2.refresh_token, rt0);
    const intro = await client.tokenIntrospection(config, t2.access_token);
    assert.equal(intro.active, true);
  });

  it('refresh: a rotated refresh token cannot be used again (reuse detection)', async (t) => {
    if (!metadata.grant_types_supported?.includes('refresh_token')) {
      t.skip('refresh tokens not implemented yet: discovery grant_types_supported lacks "refresh_token"');
      return;
    }
    const { tokens } = await loginWithLibrary({ scope: 'openid offline_access' });
    const rt0 = tokens.refresh_token;
    assert.ok(rt0);
    const t1 = await client.refreshTokenGrant(config, rt0);
    // Past the gateway's grace window (1 s here), where a second tab would get the same pair.
    await new Promise((r) => setTimeout(r, 1200));
    await assert.rejects(client.refreshTokenGrant(config, rt0), (err) => {
      assert.ok(err instanceof client.ResponseBodyError, `${err?.name}: ${err?.message}`);
      assert.equal(err.error, 'invalid_grant');
      return true;
    });
    // DESIGN.md: refresh-token family rules — a replayed token revokes the family.
    await assert.rejects(client.refreshTokenGrant(config, t1.refresh_token), (err) => {
      assert.equal(err.error, 'invalid_grant', `${err?.name}: ${err?.message}`);
      return true;
    });
  });

  it('RP-initiated logout: end_session_endpoint with id_token_hint, post_logout_redirect_uri, state', async (t) => {
    if (!metadata.end_session_endpoint) {
      t.skip('RP-initiated logout not implemented yet: discovery lacks end_session_endpoint');
      return;
    }
    const { tokens, browser } = await loginWithLibrary();
    // The SSO session is there: prompt=none yields a code without any page.
    const silent = async () => {
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        prompt: 'none',
        state: client.randomState(),
        nonce: client.randomNonce(),
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      });
      return new URL(await browser.authorize(url.href));
    };
    const before = await silent();
    assert.ok(before.searchParams.get('code'), `prompt=none before logout: ${before}`);

    const state = client.randomState();
    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI,
      state,
    });
    assert.ok(endSession.href.startsWith(metadata.end_session_endpoint));
    // Play the browser: follow the gateway's redirects, and confirm if it asks.
    let r = await browser.request(endSession.href);
    let landed;
    for (let step = 0; step < 5; step++) {
      if ([302, 303].includes(r.status) && r.location) {
        if (r.location.startsWith(POST_LOGOUT_REDIRECT_URI)) {
          landed = new URL(r.location);
          break;
        }
        r = await browser.request(r.location);
        continue;
      }
      const form = r.text.match(/<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i);
      assert.ok(r.status === 200 && form, `logout answered ${r.status} with no redirect or form`);
      const fields = {};
      for (const tag of form[2].match(/<input\b[^>]*type="hidden"[^>]*>/gi) ?? []) {
        const name = htmlUnescape(tag.match(/\bname="([^"]*)"/i)?.[1] ?? '');
        if (name) fields[name] = hiddenInput(tag, name);
      }
      r = await browser.request(new URL(htmlUnescape(form[1]), gw.url).href, { method: 'POST', form: fields });
    }
    assert.ok(landed, 'the browser ends at post_logout_redirect_uri');
    assert.equal(`${landed.origin}${landed.pathname}`, POST_LOGOUT_REDIRECT_URI);
    assert.equal(landed.searchParams.get('state'), state);

    // The SSO session is gone: prompt=none now answers login_required.
    const afterLogout = await silent();
    assert.equal(afterLogout.searchParams.get('error'), 'login_required', String(afterLogout));
  });
  it('resource indicator (RFC 8707): a login for hoso-api gives that API\'s access token; the ID token stays the portal\'s', async (t) => {
    if (!needsResources(t)) return;
    // `resource` in the authorization request (buildAuthorizationUrl), and again at the token
    // endpoint (authorizationCodeGrant's tokenEndpointParameters), as RFC 8707 §2.2 allows.
    const { tokens, authUrl } = await loginWithLibrary({
      scope: 'openid profile personal_id hoso.read',
      authParams: { resource: HOSO },
      tokenParams: { resource: HOSO },
    });
    assert.equal(authUrl.searchParams.get('resource'), HOSO);
    assert.equal(tokens.scope, 'hoso.read', 'the token response names the access token\'s scopes');
    const at = await verifyAccessToken(tokens.access_token, HOSO);
    assert.equal(at.scope, 'hoso.read', 'only the resource\'s scopes');
    assert.equal(at.client_id, CLIENT_ID);
    assert.equal(at.acr, 'urn:vneid:loa:2');
    // The ID token was validated by the library for this client (aud, nonce, signature), and
    // still carries what the person scopes release.
    const id = tokens.claims();
    assertCitizenClaims(id);
    assert.equal(at.sub, id.sub, 'the same person');
    // The API's token does not open userinfo: it is not the portal's.
    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, id.sub), (err) => {
      assert.equal(err.status ?? err.response?.status ?? err.cause?.status, 401, String(err));
      return true;
    });
  });

  it('client_credentials for an API: clientCredentialsGrant with scope + resource → aud = the resource, sub = the client', async (t) => {
    if (!needsResources(t)) return;
    const machine = new client.Configuration(
      metadata,
      MACHINE_ID,
      MACHINE_SECRET,
      client.ClientSecretBasic(MACHINE_SECRET),
    );
    client.allowInsecureRequests(machine); // loopback http
    const cc = await client.clientCredentialsGrant(machine, { scope: 'hoso.read', resource: HOSO });
    assert.equal(cc.token_type, 'bearer');
    assert.equal(cc.scope, 'hoso.read');
    const at = await verifyAccessToken(cc.access_token, HOSO);
    assert.equal(at.sub, MACHINE_ID);
    assert.equal(at.client_id, MACHINE_ID);
    assert.equal(at.scope, 'hoso.read');
    // The resource alone: every scope of it the client holds.
    const all = await client.clientCredentialsGrant(machine, { resource: HOSO });
    assert.equal(all.scope, 'hoso.read hoso.write');
    assert.equal((await verifyAccessToken(all.access_token, HOSO)).scope, 'hoso.read hoso.write');
    // A scope of another resource.
    await assert.rejects(
      client.clientCredentialsGrant(machine, { scope: 'pay', resource: HOSO }),
      tokenError('invalid_scope', /another resource/),
    );
  });

  it('token exchange (RFC 8693, genericGrantRequest): the API token acts for the person; revoking the login ends it', async (t) => {
    if (!needsResources(t)) return;
    // A plain login (the portal's own token), with a refresh token to revoke the grant by.
    const { tokens } = await loginWithLibrary({ scope: 'openid profile offline_access' });
    const id = tokens.claims();
    assert.ok(tokens.refresh_token, 'a refresh token for scope offline_access');
    const subject = await verifyAccessToken(tokens.access_token, CLIENT_ID); // the portal's own: aud = its id

    // openid-client has no dedicated token-exchange function: genericGrantRequest is its API
    // for extension grants (it knows RFC 8693 responses, e.g. the N_A token type).
    const exchange = (params) =>
      client.genericGrantRequest(config, TOKEN_EXCHANGE, {
        subject_token: tokens.access_token,
        subject_token_type: ACCESS_TOKEN_TYPE,
        ...params,
      });
    const x = await exchange({ resource: HOSO });
    assert.equal(x.issued_token_type, ACCESS_TOKEN_TYPE);
    assert.equal(x.token_type, 'bearer'); // the library lowercases the gateway's "Bearer"
    assert.equal(x.scope, 'hoso.read');
    assert.ok(x.expires_in > 0 && x.expires_in <= 300, `expires_in ${x.expires_in}`);
    assert.equal(x.refresh_token, undefined);
    assert.equal(x.id_token, undefined);
    const claims = await verifyAccessToken(x.access_token, HOSO);
    assert.equal(claims.sub, id.sub, 'the person\'s sub, as in the ID token');
    assert.equal(claims.acr, id.acr, 'the person\'s level');
    assert.equal(claims.acr, 'urn:vneid:loa:2');
    assert.deepEqual(claims.act, { sub: CLIENT_ID }, 'the portal acts');
    assert.equal(claims.scope, 'hoso.read');
    assert.ok(claims.exp <= subject.exp, 'never past the subject token');
    // `audience=` with the resource's id names the same API.
    const byId = await exchange({ audience: 'hoso-api', scope: 'hoso.read' });
    assert.equal((await verifyAccessToken(byId.access_token, HOSO)).act.sub, CLIENT_ID);

    const live = await client.tokenIntrospection(config, x.access_token);
    assert.equal(live.active, true);
    assert.equal(live.sub, id.sub);
    assert.equal(live.aud, HOSO);
    assert.equal(live.client_id, CLIENT_ID);
    assert.deepEqual(live.act, { sub: CLIENT_ID });

    // Revoking the login's refresh token revokes its grant, and with it the exchanged token.
    await client.tokenRevocation(config, tokens.refresh_token, { token_type_hint: 'refresh_token' });
    assert.equal((await client.tokenIntrospection(config, x.access_token)).active, false);
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
    // And the revoked login's token cannot be exchanged any more.
    await assert.rejects(exchange({ resource: HOSO }), tokenError('invalid_request'));
  });

  it('resource refusals through the library: another resource\'s scope, no resource, two resources, an API the portal may not call', async (t) => {
    if (!needsResources(t)) return;
    // At /authorize (the error comes back to the portal; the library's callback handling
    // checks state and iss, then raises it).
    // (The descriptions are matched loosely: the error code alone would not tell why.)
    let err = await authorizationError('openid pay', [HOSO]);
    assert.equal(err.error, 'invalid_scope', err.error_description);
    assert.match(err.error_description ?? '', /another resource/);
    err = await authorizationError('openid hoso.read');
    assert.equal(err.error, 'invalid_scope', err.error_description);
    assert.match(err.error_description ?? '', /resource=/, 'the description names the resource to ask for');
    err = await authorizationError('openid', [HOSO, PAY]);
    assert.equal(err.error, 'invalid_target', err.error_description);
    assert.match(err.error_description ?? '', /one resource/);
    err = await authorizationError('openid', [PAY]);
    assert.equal(err.error, 'invalid_target', err.error_description);
    assert.match(err.error_description ?? '', /may not call/);

    // At /token: an exchange for an API the portal holds nothing of (by audience and by id),
    // and for two APIs at once (URLSearchParams: genericGrantRequest sends every entry).
    const { tokens } = await loginWithLibrary({ scope: 'openid' });
    const base = { subject_token: tokens.access_token, subject_token_type: ACCESS_TOKEN_TYPE };
    await assert.rejects(
      client.genericGrantRequest(config, TOKEN_EXCHANGE, { ...base, resource: PAY }),
      tokenError('invalid_target', /may not call/),
    );
    await assert.rejects(
      client.genericGrantRequest(config, TOKEN_EXCHANGE, { ...base, audience: 'thanhtoan' }),
      tokenError('invalid_target', /may not call/),
    );
    const two = new URLSearchParams(base);
    two.append('resource', HOSO);
    two.append('resource', PAY);
    await assert.rejects(
      client.genericGrantRequest(config, TOKEN_EXCHANGE, two),
      tokenError('invalid_target', /one resource/),
    );
    // The subject token is untouched by the refusals.
    const ok = await client.genericGrantRequest(config, TOKEN_EXCHANGE, { ...base, resource: HOSO });
    assert.equal((await verifyAccessToken(ok.access_token, HOSO)).act.sub, CLIENT_ID);
  });
});
